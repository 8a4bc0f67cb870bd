# Area "x402": the tests of the cryptographic and protocol core of x402 payments — Keccak-256,
# EVM value codecs + secp256k1 sign/recover, EIP-712 / EIP-3009 hashing, and the
# x402 v1/v2 codec with local verification, EIP-1559 tx encoding/signing for
# self-settlement (evm_tx), and the `upto` scheme (x402_upto: Permit2 witness
# digest, verification, settle calldata), and `exact` on Solana (base58, the
# transaction wire format, the scheme's checks, ATA derivation: test_svm). Pure functions, no HTTP (src/x402/).

gr_add_unit_test(NAME test_keccak SOURCES tests/unit/test_keccak.c LIBS gr_x402)
gr_add_unit_test(NAME test_eip712 SOURCES tests/unit/test_eip712.c LIBS gr_x402)
gr_add_unit_test(NAME test_x402 SOURCES tests/unit/test_x402.c LIBS gr_x402)
# sign-in-with-x: EIP-4361 message (viem vector), verification and its refusals
gr_add_unit_test(NAME test_x402_siwx SOURCES tests/unit/test_x402_siwx.c LIBS gr_x402)
gr_add_unit_test(NAME test_x402_upto SOURCES tests/unit/test_x402_upto.c LIBS gr_x402)
gr_add_unit_test(NAME test_svm SOURCES tests/unit/test_svm.c LIBS gr_x402)
