// The k3s release mirror the rehearsal serves from the pulumi runner: GET .../<tag>/<asset> from
// <root>/<tag>/<asset>, over HTTP (the stack's k3sReleaseBaseUrl points here). One log line per
// request, so checks can see what was downloaded.
// Usage: node mirror-server.mjs ROOT ADDRESS
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const [root, address] = process.argv.slice(2);

function handle(request, response) {
    const segments = decodeURIComponent(new URL(request.url, "http://mirror").pathname).split("/").filter(Boolean);
    const [tag, asset] = segments.slice(-2);
    const file = tag && asset && !tag.startsWith(".") && !asset.startsWith(".") ? join(root, tag, asset) : "";
    const found = file !== "" && existsSync(file) && statSync(file).isFile();
    console.log(`mirror: ${request.method} ${request.headers.host ?? ""}${request.url} ${found ? 200 : 404}`);
    if (!found) {
        response.writeHead(404, { "content-type": "text/plain" });
        response.end(`not in the rehearsal's k3s mirror: ${tag}/${asset}\n`);
        return;
    }
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": statSync(file).size });
    createReadStream(file).pipe(response);
}

createServer(handle).listen(80, address, () => console.log(`mirror: http://${address}/ serving ${root}`));
