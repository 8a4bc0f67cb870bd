/* static_keys.h — the lookup of a presented key among the static keys of the
 * config (`auth.keys`: no budgets, no limits). Here, below the features, so
 * the authenticator (auth.c) and GET /v1/key (api_admin.c) share it without
 * one feature including another. */
#ifndef GR_STATIC_KEYS_H
#define GR_STATIC_KEYS_H

#include "config.h"

/* The `auth.keys` entry whose key is `presented`, or NULL (also for NULL).
 * Constant work per configured key: every key is compared in full. */
const gr_api_key *gr_config_static_key(const gr_config *c, const char *presented);

#endif
