// svm_rpc.mjs — a local Solana for the x402 Solana suite: LiteSVM (npm
// `litesvm`: the real SPL Token program, in process) behind a small JSON-RPC
// server on 127.0.0.1 with the methods the official client (@x402/svm) and
// the gateway use: getAccountInfo, getLatestBlockhash, sendTransaction (with
// the preflight simulation a node does: a failing transaction is refused and
// changes nothing), simulateTransaction, getSignatureStatuses, getBalance,
// getTokenAccountBalance. Plus fixtures: a USDC-like mint (6 decimals), funded
// token accounts, a fee payer with SOL.
import { createServer } from 'node:http';
import { LiteSVM, FailedTransactionMetadata } from 'litesvm';
import { getBase58Decoder, getTransactionDecoder, lamports } from '@solana/kit';
import {
  AccountState, findAssociatedTokenPda, getMintEncoder, getTokenEncoder, getTokenDecoder, TOKEN_PROGRAM_ADDRESS,
} from '@solana-program/token';

export const DECIMALS = 6;
const b58 = getBase58Decoder();

export async function startSvmRpc() {
  const svm = new LiteSVM();
  let slot = 1n;
  const statuses = new Map(); // signature -> { slot, err }

  function accountJson(addr) {
    const a = svm.getAccount(addr);
    if (!a || !a.exists) return null;
    return {
      data: [Buffer.from(a.data).toString('base64'), 'base64'], executable: a.executable,
      lamports: Number(a.lamports), owner: a.programAddress, rentEpoch: 0, space: a.data.length,
    };
  }

  function setToken(address, { mint, owner, amount }) {
    const data = new Uint8Array(getTokenEncoder().encode({
      mint, owner, amount, delegate: null, state: AccountState.Initialized, isNative: null, delegatedAmount: 0n,
      closeAuthority: null,
    }));
    svm.setAccount({ address, data, executable: false, lamports: lamports(2039280n), programAddress: TOKEN_PROGRAM_ADDRESS,
      space: BigInt(data.length) });
  }

  const methods = {
    getLatestBlockhash: () => ({ context: { slot: Number(slot) },
      value: { blockhash: svm.latestBlockhash(), lastValidBlockHeight: Number(slot) + 150 } }),
    getAccountInfo: ([addr]) => ({ context: { slot: Number(slot) }, value: accountJson(addr) }),
    getBalance: ([addr]) => ({ context: { slot: Number(slot) }, value: Number(svm.getBalance(addr) ?? 0n) }),
    getTokenAccountBalance: ([addr]) => {
      const a = svm.getAccount(addr);
      if (!a || !a.exists) throw { code: -32602, message: 'Invalid param: could not find account' };
      const t = getTokenDecoder().decode(a.data);
      return { context: { slot: Number(slot) }, value: { amount: String(t.amount), decimals: DECIMALS,
        uiAmount: Number(t.amount) / 10 ** DECIMALS, uiAmountString: String(Number(t.amount) / 10 ** DECIMALS) } };
    },
    simulateTransaction: ([b64]) => {
      const tx = getTransactionDecoder().decode(Buffer.from(b64, 'base64'));
      const r = svm.simulateTransaction(tx);
      const failed = r instanceof FailedTransactionMetadata;
      return { context: { slot: Number(slot) }, value: { err: failed ? String(r.err()) : null,
        logs: failed ? r.meta().logs() : r.meta().logs() } };
    },
    sendTransaction: ([b64]) => {
      const tx = getTransactionDecoder().decode(Buffer.from(b64, 'base64'));
      const sig = Object.values(tx.signatures)[0];
      const id = b58.decode(sig);
      if (statuses.has(id)) throw { code: -32002, message: 'Transaction simulation failed: This transaction has already been processed' };
      const sim = svm.simulateTransaction(tx); // the node's preflight: a failing transaction is refused, nothing changes
      if (sim instanceof FailedTransactionMetadata) {
        throw { code: -32002, message: `Transaction simulation failed: ${sim.err()}`, data: { logs: sim.meta().logs() } };
      }
      const r = svm.sendTransaction(tx);
      slot += 1n;
      statuses.set(id, { slot: Number(slot), err: r instanceof FailedTransactionMetadata ? String(r.err()) : null });
      return id;
    },
    getSignatureStatuses: ([sigs]) => ({ context: { slot: Number(slot) },
      value: sigs.map((s) => {
        const st = statuses.get(s);
        return st ? { slot: st.slot, confirmations: null, err: st.err ? { InstructionError: st.err } : null,
          confirmationStatus: 'finalized', status: st.err ? { Err: st.err } : { Ok: null } } : null;
      }) }),
  };

  const calls = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      let msg;
      try { msg = JSON.parse(body); } catch { res.writeHead(400).end(); return; }
      const one = async (m) => {
        calls.push(m.method);
        const f = methods[m.method];
        if (!f) return { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `Method not found: ${m.method}` } };
        try { return { jsonrpc: '2.0', id: m.id, result: await f(m.params || []) }; } catch (e) {
          return { jsonrpc: '2.0', id: m.id, error: e && e.code ? e : { code: -32603, message: String(e && e.message || e) } };
        }
      };
      const out = Array.isArray(msg) ? await Promise.all(msg.map(one)) : await one(msg);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    svm, url, calls,
    async ata(owner, mint) {
      const [a] = await findAssociatedTokenPda({ mint, owner, tokenProgram: TOKEN_PROGRAM_ADDRESS });
      return a;
    },
    createMint(mint, authority) {
      const data = new Uint8Array(getMintEncoder().encode({
        mintAuthority: authority, supply: 1_000_000_000_000n, decimals: DECIMALS, isInitialized: true, freezeAuthority: null,
      }));
      svm.setAccount({ address: mint, data, executable: false, lamports: lamports(1461600n),
        programAddress: TOKEN_PROGRAM_ADDRESS, space: BigInt(data.length) });
    },
    async fund(owner, mint, amount) {
      const a = await this.ata(owner, mint);
      setToken(a, { mint, owner, amount });
      return a;
    },
    airdrop(addr, n) { svm.airdrop(addr, lamports(n)); },
    tokenBalance(addr) {
      const a = svm.getAccount(addr);
      return a && a.exists ? getTokenDecoder().decode(a.data).amount : null;
    },
    solBalance(addr) { return svm.getBalance(addr) ?? 0n; },
    close() { return new Promise((r) => server.close(r)); },
  };
}
