// paid_config.mjs — a gateway config where money is checked both ways: virtual
// keys with budgets (name -> [key, budget_usd]) and x402 (settle: none, so a
// request without a key gets a 402 quote and nothing settles), plus the
// providers and models YAML the suite brings.
export function paidConfig(port, dir, keys, providersAndModels) {
  const keyLines = Object.entries(keys).map(([name, [key, usd]]) => `  - { name: ${name}, key: ${key}, budget_usd: ${usd} }`).join('\n');
  return `
store: "sqlite://${dir}/gaterouter.db"
server: { listen: 127.0.0.1:${port}, workers: 1 }
log: { access_log: "off", level: info }
auth: { keys: [] }
keys:
${keyLines}
x402:
  settle: none
  networks:
    - { network: base-sepolia, asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", name: USDC, version: "2", pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C" }
${providersAndModels}`;
}
