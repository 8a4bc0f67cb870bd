/* auth.h — client authentication: `Authorization: Bearer <key>` (or Anthropic
 * style `x-api-key`) checked in constant time against the keys in config.
 * The mode is explicit (auth.mode): `keys` (default) refuses a request
 * without a known key, even while no key exists yet; `open` admits anyone
 * (a warning is logged at start). Virtual keys with budgets extend this
 * (keys.c). */
#ifndef GR_AUTH_H
#define GR_AUTH_H

#include "request.h"

/* Returns true if the request may proceed; otherwise it has already been
 * answered with 401 and finished. Sets r->key_name. */
bool gr_auth_check(gr_request *r);
/* The `auth.keys` entry whose key is `presented` (constant time), or NULL. */
const gr_api_key *gr_auth_static_key(const gr_config *c, const char *presented);
/* The presented credential (Bearer or x-api-key), or NULL. */
const char *gr_auth_presented_key(const gr_client_req *req);

#endif
