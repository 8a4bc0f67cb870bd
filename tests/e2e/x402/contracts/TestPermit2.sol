// SPDX-License-Identifier: MIT
// GateRouter test contract.
// TestPermit2 — a minimal stand-in for Permit2's signature-transfer path, just
// what the x402 `upto` flow touches, written for the GateRouter end-to-end
// tests from the published interface (type strings, struct shapes, function
// and error signatures):
//   - EIP-712 domain {name: "Permit2", chainId, verifyingContract} (no
//     version), computed on every call from block.chainid and address(this),
//     so the code can be copied to any address (anvil_setCode);
//   - permitWitnessTransferFrom(permit, transferDetails, owner, witness,
//     witnessTypeString, signature): deadline, requested <= permitted,
//     unordered nonce bitmap (spent on use), 65-byte ECDSA signature of the
//     owner (v 27/28, low s), then token.transferFrom(owner, to, requested);
//   - nonceBitmap(owner, wordPos) and DOMAIN_SEPARATOR().
// Not implemented: the allowance-transfer path, batch transfers, plain
// permitTransferFrom, invalidateUnorderedNonces, EIP-2098 compact and
// ERC-1271 contract signatures. Local chains only.
pragma solidity ^0.8.20;

contract TestPermit2 {
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    struct PermitTransferFrom {
        TokenPermissions permitted;
        uint256 nonce;
        uint256 deadline;
    }

    struct SignatureTransferDetails {
        address to;
        uint256 requestedAmount;
    }

    // Error names/arguments as in the published interface: the gateway maps
    // their selectors to x402 error codes when a settle() simulation reverts.
    error SignatureExpired(uint256 signatureDeadline);
    error InvalidAmount(uint256 maxAmount);
    error InvalidNonce();
    error InvalidSignatureLength();
    error InvalidSignature();
    error InvalidSigner();

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("Permit2");
    bytes32 private constant TOKEN_PERMISSIONS_TYPEHASH = keccak256("TokenPermissions(address token,uint256 amount)");
    // The caller appends its witness field, ")" and the referenced struct types.
    string private constant WITNESS_TYPE_PREFIX =
        "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,";
    // secp256k1 order / 2: signatures with a larger s are malleable copies.
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    // owner => word index (nonce >> 8) => 256 nonce bits (nonce & 0xff)
    mapping(address => mapping(uint256 => uint256)) public nonceBitmap;

    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, block.chainid, address(this)));
    }

    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external {
        if (block.timestamp > permit.deadline) revert SignatureExpired(permit.deadline);
        if (transferDetails.requestedAmount > permit.permitted.amount) revert InvalidAmount(permit.permitted.amount);

        _spendNonce(owner, permit.nonce);

        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR(), _permitHash(permit, witness, witnessTypeString)));
        _checkSigner(digest, signature, owner);

        _pull(permit.permitted.token, owner, transferDetails.to, transferDetails.requestedAmount);
    }

    // hashStruct(PermitWitnessTransferFrom); the spender is whoever calls us.
    function _permitHash(PermitTransferFrom calldata permit, bytes32 witness, string calldata witnessTypeString)
        private
        view
        returns (bytes32)
    {
        bytes32 typeHash = keccak256(abi.encodePacked(WITNESS_TYPE_PREFIX, witnessTypeString));
        bytes32 permitted =
            keccak256(abi.encode(TOKEN_PERMISSIONS_TYPEHASH, permit.permitted.token, permit.permitted.amount));
        return keccak256(abi.encode(typeHash, permitted, msg.sender, permit.nonce, permit.deadline, witness));
    }

    function _spendNonce(address owner, uint256 nonce) private {
        uint256 word = nonce >> 8;
        uint256 mask = uint256(1) << (nonce & 0xff);
        uint256 bits = nonceBitmap[owner][word];
        if (bits & mask != 0) revert InvalidNonce();
        nonceBitmap[owner][word] = bits | mask;
    }

    function _checkSigner(bytes32 digest, bytes calldata signature, address owner) private pure {
        if (signature.length != 65) revert InvalidSignatureLength();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) revert InvalidSignature();
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
        if (signer != owner) revert InvalidSigner();
    }

    // ERC-20 transferFrom; accepts tokens that return true or nothing.
    function _pull(address token, address from, address to, uint256 amount) private {
        (bool ok, bytes memory ret) = token.call(abi.encodeWithSelector(0x23b872dd, from, to, amount));
        require(ok && (ret.length == 0 || abi.decode(ret, (bool))) && token.code.length > 0, "TRANSFER_FROM_FAILED");
    }
}
