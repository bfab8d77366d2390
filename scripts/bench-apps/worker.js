// A small Node.js worker of the kind farm-agent --app is put in front of,
// for scripts/bench-agent.sh: node's http module (keep-alive), answering
// GET /work with a small JSON document it builds per request.
// Usage: node worker.js PORT
//
//   GET /work?items=N   200, a JSON list of N (default 20) small records
//   GET /health         200 "ok"

'use strict';

const http = require('http');

const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let code = 200;
    let type = 'application/json';
    let body;

    if (url.pathname === '/health') {
        type = 'text/plain';
        body = 'ok\n';

    } else if (url.pathname === '/work') {
        const items = parseInt(url.searchParams.get('items') || '20', 10);
        const doc = { worker: 'node', items: [] };

        for (let i = 0; i < items; i++) {
            doc.items.push({ n: i, square: i * i, name: 'item-' + i });
        }

        body = JSON.stringify(doc) + '\n';

    } else {
        code = 404;
        type = 'text/plain';
        body = 'not found\n';
    }

    res.writeHead(code, {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
});

server.keepAliveTimeout = 60000;
server.listen(parseInt(process.argv[2], 10), '127.0.0.1');
