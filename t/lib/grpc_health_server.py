#!/usr/bin/python3
# A gRPC health server for the tests (FarmTest::start_grpc_health):
# grpc.health.v1.Health/Check over HTTP/2, cleartext with prior knowledge,
# or TLS with ALPN h2 when given a certificate and key.  Its answer is the
# first word of STATE_FILE, read at each call: SERVING, NOT_SERVING,
# SERVICE_UNKNOWN or UNKNOWN (a HealthCheckResponse with that status),
# UNIMPLEMENTED (grpc-status 12, no message), or CLOSE (the connection is
# closed unanswered).  Each call is logged to stdout: path, authority,
# service, te, content-type, x-probe.  In cleartext, a connection that does not
# start with HTTP/2's preface gets an HTTP/1.1 200 with "X-Target: PORT",
# so that a test can see where the gateway proxies.  Uses python3-h2
# (Debian's package).
#
#   grpc_health_server.py PORT STATE_FILE [CERT KEY]

import socket
import socketserver
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events

STATUS = {'UNKNOWN': 0, 'SERVING': 1, 'NOT_SERVING': 2, 'SERVICE_UNKNOWN': 3}

port = int(sys.argv[1])
state_file = sys.argv[2]
tls = None
if len(sys.argv) > 4:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[3], sys.argv[4])
    tls.set_alpn_protocols(['h2'])


def state():
    try:
        with open(state_file) as f:
            return (f.read().split() or ['SERVING'])[0]
    except OSError:
        return 'SERVING'


def service_of(body):
    # HealthCheckRequest after the 5-byte prefix: field 1, a short string
    msg = body[5:]
    if len(msg) >= 2 and msg[0] == 0x0a:
        return msg[2:2 + msg[1]].decode('utf-8', 'replace')
    return ''


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        if tls is None and not self.http2(sock):
            return
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                return
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False,
                                             header_encoding='utf-8'))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        headers, bodies = {}, {}
        while True:
            try:
                data = sock.recv(65535)
            except OSError:
                return
            if not data:
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    headers[ev.stream_id] = dict(ev.headers)
                    bodies[ev.stream_id] = b''
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] = bodies.get(ev.stream_id, b'') + ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length,
                                                   ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    if not self.answer(sock, conn, ev.stream_id,
                                       headers.get(ev.stream_id, {}),
                                       bodies.get(ev.stream_id, b'')):
                        return
            sock.sendall(conn.data_to_send())

    def http2(self, sock):
        # the first bytes: HTTP/2's preface, or an HTTP/1 request answered
        head = b''
        while len(head) < 3:
            head = sock.recv(3, socket.MSG_PEEK)
            if not head:
                return False
            if len(head) < 3:
                time.sleep(0.01)
        if head == b'PRI':
            return True
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = sock.recv(65535)
            if not chunk:
                return False
            data += chunk
        sock.sendall(b'HTTP/1.1 200 OK\r\nX-Target: %d\r\n'
                     b'Content-Length: 3\r\nConnection: close\r\n\r\nok\n'
                     % port)
        return False

    def answer(self, sock, conn, stream, hdr, body):
        what = state()
        print('%s authority=%s service=%s te=%s content-type=%s x-probe=%s'
              % (hdr.get(':path'), hdr.get(':authority'), service_of(body),
                 hdr.get('te'), hdr.get('content-type'), hdr.get('x-probe')),
              flush=True)
        if what == 'CLOSE':
            return False
        if what == 'UNIMPLEMENTED':
            conn.send_headers(stream, [(':status', '200'),
                                       ('content-type', 'application/grpc'),
                                       ('grpc-status', '12')],
                              end_stream=True)
            return True
        msg = bytes([0x08, STATUS.get(what, 0)])
        conn.send_headers(stream, [(':status', '200'),
                                   ('content-type', 'application/grpc')])
        conn.send_data(stream, bytes([0, 0, 0, 0, len(msg)]) + msg)
        conn.send_headers(stream, [('grpc-status', '0')], end_stream=True)
        return True


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    address_family = socket.AF_INET


Server(('127.0.0.1', port), Handler).serve_forever()
