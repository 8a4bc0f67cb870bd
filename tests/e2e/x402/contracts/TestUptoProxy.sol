// SPDX-License-Identifier: MIT
// GateRouter test contract.
// TestUptoProxy — a minimal stand-in for the x402 upto Permit2 proxy, just the
// settle() entry point the gateway calls (same ABI, selector 0xff11e7b4),
// written for the GateRouter end-to-end tests from the published interface
// (witness type string, struct shapes, function and error signatures):
//   settle(permit, amount, owner, witness{to, facilitator, validAfter}, signature)
// checks amount <= permit.permitted.amount, msg.sender == witness.facilitator,
// amount != 0 (the gateway sends no transaction for a zero cost), owner and
// witness.to non-zero and validAfter <= block.timestamp, then has Permit2 move
// exactly `amount` from the owner to witness.to, with this contract as the
// signed spender and the witness hash bound into the signature.
// Not implemented: settleWithPermit (EIP-2612), a reentrancy guard (Permit2
// here only calls the token). Local chains only.
pragma solidity ^0.8.20;

interface ITestPermit2 {
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

    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external;
}

contract TestUptoProxy {
    struct Witness {
        address to;
        address facilitator;
        uint256 validAfter;
    }

    // The witness field and the struct types it references, appended by
    // Permit2 to its PermitWitnessTransferFrom prefix.
    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)";
    bytes32 public constant WITNESS_TYPEHASH = keccak256("Witness(address to,address facilitator,uint256 validAfter)");

    ITestPermit2 public immutable PERMIT2;

    event Settled();

    error InvalidPermit2Address();
    error AmountExceedsPermitted();
    error UnauthorizedFacilitator();
    error InvalidAmount();
    error InvalidOwner();
    error InvalidDestination();
    error PaymentTooEarly();

    constructor(address permit2) {
        if (permit2 == address(0)) revert InvalidPermit2Address();
        PERMIT2 = ITestPermit2(permit2);
    }

    function settle(
        ITestPermit2.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external {
        if (amount > permit.permitted.amount) revert AmountExceedsPermitted();
        if (msg.sender != witness.facilitator) revert UnauthorizedFacilitator();
        if (amount == 0) revert InvalidAmount();
        if (owner == address(0)) revert InvalidOwner();
        if (witness.to == address(0)) revert InvalidDestination();
        if (block.timestamp < witness.validAfter) revert PaymentTooEarly();

        bytes32 witnessHash = keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.facilitator, witness.validAfter));
        PERMIT2.permitWitnessTransferFrom(
            permit,
            ITestPermit2.SignatureTransferDetails({to: witness.to, requestedAmount: amount}),
            owner,
            witnessHash,
            WITNESS_TYPE_STRING,
            signature
        );
        emit Settled();
    }
}
