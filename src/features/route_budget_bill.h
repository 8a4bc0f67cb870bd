/* route_budget_bill.h — counts each auto cost-target request's bill in its
 * worker's controller (see route_budget_bill.c). */
#ifndef GR_ROUTE_BUDGET_BILL_H
#define GR_ROUTE_BUDGET_BILL_H

/* The finish handler (feature_list.c). */
void gr_route_budget_bill_register(void);

#endif
