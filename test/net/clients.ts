// Clients the real-network tests and the rehearsal run inside a namespace with this Node binary.

/** A client that connects, sends an HTTP request or a TLS ClientHello for NAME, prints its own port and what came back. */
export const webClientScript = `
const net = require("net"), tls = require("tls");
const [mode, host, port, name] = process.argv.slice(1);
const socket = mode === "tls"
  ? tls.connect({ host, port: Number(port), servername: name, rejectUnauthorized: false })
  : net.connect({ host, port: Number(port) });
let answer = "";
socket.once("connect", () => {
  process.stdout.write("port " + socket.localPort + "\\n");
  if (mode === "http") socket.write("GET / HTTP/1.1\\r\\nHost: " + name + "\\r\\nConnection: close\\r\\n\\r\\n");
});
socket.on("data", (d) => (answer += d.toString("latin1")));
socket.on("error", () => {});
setTimeout(() => { process.stdout.write("answer " + JSON.stringify(answer) + "\\n"); process.exit(0); }, 1500);
`;
