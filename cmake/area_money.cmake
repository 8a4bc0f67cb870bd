# Area "money": the tests of what a request may cost before it runs (budget
# holds, x402 quotes: src/meter/meter_hold.c) and of the provider-kind price
# defaults (src/meter/meter_defaults.c).

gr_add_unit_test(NAME test_meter_hold SOURCES tests/unit/test_meter_hold.c LIBS gr_meter)
