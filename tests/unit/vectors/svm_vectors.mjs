// svm_vectors.mjs — prints the fixed vectors of tests/unit/test_svm.c, made
// with the official Solana libraries (@solana/kit, @solana-program/*): a v0
// x402 `exact` payment transaction exactly as @x402/svm's client builds it,
// partially signed by fixed keys, and associated-token-account addresses.
// Run: node tests/unit/vectors/svm_vectors.mjs
import { getSetComputeUnitLimitInstruction, setTransactionMessageComputeUnitPrice } from '@solana-program/compute-budget';
import { findAssociatedTokenPda, getTransferCheckedInstruction, TOKEN_PROGRAM_ADDRESS } from '@solana-program/token';
import {
  appendTransactionMessageInstructions, createKeyPairSignerFromPrivateKeyBytes, createTransactionMessage,
  getBase64EncodedWireTransaction, partiallySignTransactionMessageWithSigners, pipe,
  prependTransactionMessageInstruction, setTransactionMessageFeePayer, setTransactionMessageLifetimeUsingBlockhash,
} from '@solana/kit';

const seed = (b) => new Uint8Array(32).fill(b);
const payer = await createKeyPairSignerFromPrivateKeyBytes(seed(1));
const feePayer = await createKeyPairSignerFromPrivateKeyBytes(seed(2));
const payTo = await createKeyPairSignerFromPrivateKeyBytes(seed(3));
const mint = (await createKeyPairSignerFromPrivateKeyBytes(seed(4))).address;
const [src] = await findAssociatedTokenPda({ mint, owner: payer.address, tokenProgram: TOKEN_PROGRAM_ADDRESS });
const [dst, dstBump] = await findAssociatedTokenPda({ mint, owner: payTo.address, tokenProgram: TOKEN_PROGRAM_ADDRESS });
const transfer = getTransferCheckedInstruction({ source: src, mint, destination: dst, authority: payer, amount: 12345n, decimals: 6 },
  { programAddress: TOKEN_PROGRAM_ADDRESS });
const memo = { programAddress: 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr', accounts: [], data: new TextEncoder().encode('00112233445566778899aabbccddeeff') };
const msg = pipe(
  createTransactionMessage({ version: 0 }),
  (m) => setTransactionMessageComputeUnitPrice(1, m),
  (m) => setTransactionMessageFeePayer(feePayer.address, m),
  (m) => prependTransactionMessageInstruction(getSetComputeUnitLimitInstruction({ units: 20000 }), m),
  (m) => appendTransactionMessageInstructions([transfer, memo], m),
  (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: 'EtWTRABZaYq6iMfeYKouRu166VU2xqa1', lastValidBlockHeight: 100n }, m),
);
const signed = await partiallySignTransactionMessageWithSigners(msg);
console.log(JSON.stringify({
  payer: payer.address, fee_payer: feePayer.address, pay_to: payTo.address, mint, source_ata: src,
  dest_ata: dst, dest_bump: dstBump, tx: getBase64EncodedWireTransaction(signed),
}, null, 1));
// ATAs whose bump is below 255 exercise the curve test
for (let b = 5, found = 0; found < 3 && b < 80; b++) {
  const owner = (await createKeyPairSignerFromPrivateKeyBytes(seed(b))).address;
  const [ata, bump] = await findAssociatedTokenPda({ mint, owner, tokenProgram: TOKEN_PROGRAM_ADDRESS });
  if (bump < 255) { console.log(JSON.stringify({ owner, ata, bump })); found++; }
}
