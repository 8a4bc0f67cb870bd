/* admit_keys.h — a virtual key's admission: budgets and rate limits
 * reserved before serving, cluster-wide through Redis, settled at finish
 * (admit_keys.c; registered into the pipeline, pipeline.h). */
#ifndef GR_ADMIT_KEYS_H
#define GR_ADMIT_KEYS_H

#include "request.h"

/* Registers the two ADMIT handlers, the settle finish handler and the
 * context slot (start-up). */
void gr_admit_keys_register(void);

#endif
