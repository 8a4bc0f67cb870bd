# Area "meter": the tests of cost metering, virtual API keys (budgets, RPM/TPM), the usage
# ledger (async SQLite writer), the store interface + SQLite backend, the admin
# API handlers and the `keys`/`usage` CLI (src/meter/, src/store/, src/cli/). Owner: metering/keys.

gr_add_unit_test(NAME test_meter SOURCES tests/unit/test_meter.c LIBS gr_meter)
gr_add_unit_test(NAME test_keys SOURCES tests/unit/test_keys.c LIBS gr_meter)
gr_add_unit_test(NAME test_budget_concurrency SOURCES tests/unit/test_budget_concurrency.c LIBS gr_meter)
gr_add_unit_test(NAME test_ledger SOURCES tests/unit/test_ledger.c LIBS gr_meter)
gr_add_unit_test(NAME test_store_sqlite SOURCES tests/unit/test_store_sqlite.c LIBS gr_meter)
gr_add_unit_test(NAME test_admin SOURCES tests/unit/test_admin.c LIBS gr_cli)
set_tests_properties(test_budget_concurrency test_ledger test_store_sqlite PROPERTIES TIMEOUT 120)
