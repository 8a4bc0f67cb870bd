/* feature_list.h — the one list of features that register handlers into the
 * request pipeline (pipeline.h), as nginx's module list: adding a feature is
 * one line in feature_list.c. */
#ifndef GR_FEATURE_LIST_H
#define GR_FEATURE_LIST_H

/* Registers every feature's handlers, once (later calls do nothing). Called
 * before any worker starts. */
void gr_features_register(void);

#endif
