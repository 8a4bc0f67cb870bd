/* auth.h — client authentication: `Authorization: Bearer <key>` (or Anthropic
 * style `x-api-key`) checked in constant time against the keys in config.
 * The mode is explicit (auth.mode): `keys` (default) refuses a request
 * without a known key, even while no key exists yet; `open` admits anyone
 * (a warning is logged at start). Virtual keys with budgets extend this
 * (keys.c). */
#ifndef GR_AUTH_H
#define GR_AUTH_H

#include "request.h"

/* Registers the key authenticator, the last handler of the AUTHENTICATE
 * phase (pipeline.h): it accepts a known key (sets r->key_name, r->key for a
 * virtual key) or an open gateway, else answers 401 (429/402/403 for a
 * known key that may not be used now). */
void gr_auth_register(void);

#endif
