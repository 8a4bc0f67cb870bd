# Area "money": what a request may cost before it runs (budget holds, x402
# quotes: meter_hold.c) and the provider-kind price defaults
# (meter_defaults.c). They sit on the meter and the provider adapters and are
# read by the request core, so they join gr_core's objects (as area_pg does).
target_sources(gr_core PRIVATE
  src/meter_defaults.c
  src/meter_hold.c
)

gr_add_unit_test(NAME test_meter_hold SOURCES tests/unit/test_meter_hold.c
  LIBS gr_core gr_providers gr_meter gr_route gr_x402)
