# Races between a request's admission and its balancer, made deterministic:
# the request's body is held back so the registry can change in between.
#
# A23: admission names the capabilities no agent has in its own buffer; the
# balancer (init_peer) gets a new buffer.  If a capability became known in
# between (an agent that has it registered and left again: its name stays in
# the dictionary), the balancer names nothing missing, yet still refuses
# with NO_CAPS.  The 503's "missing" must then be empty, not the length of
# admission's list read from a buffer nobody wrote (pool bytes in a reply).

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_require $http_x_farm_capability;
        farm_queue max=10 timeout=5s;
    }
_EOC_

    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a capability becomes known between admission and the balancer: the 503 names nothing missing, with no stray bytes
--- init
main::ensure_agents($main::Redis, \%main::Agent, w => { cap => 'base' });
my $port = $main::Agent{w}{port};
my $sock = FarmTest::http_conn(FarmTest::gateway_port()) or die "connect: $!";
# headers only: admission runs now and finds "quantum" unknown
syswrite $sock, "POST /work?ms=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              . "X-Farm-Capability: quantum\r\nContent-Length: 4\r\n\r\n";
FarmTest::put_record($main::Redis, id => 'q', port => $port, caps => ['quantum']);
FarmTest::wait_until(sub { FarmTest::farm_agents()->{q} }, 10, 'q to register');
FarmTest::deregister($main::Redis, 'q');
FarmTest::wait_until(sub { !FarmTest::farm_agents()->{q} }, 10, 'q to leave');
# the body: the balancer runs now, with "quantum" in the dictionary
syswrite $sock, "ping";
my $sel = IO::Select->new($sock);
my $raw = '';
while ($sel->can_read(10)) {
    my $n = sysread $sock, $raw, 65536, length $raw;
    last unless $n;
}
close $sock;
my ($head, $body) = $raw =~ /\A(.*?)\r\n\r\n(.*)\z/s;
Test::More::like($head // '', qr{^HTTP/1\.1 503}, 'the request is refused with 503');
Test::More::is($body,
    '{"error":"no agent has the required capabilities","required":["quantum"],'
    . '"missing":[],"upstream":"agents","service":"agents","agents":1}' . "\n",
    'the body names nothing missing and holds no stray bytes');
--- request
GET /work?ms=0
--- more_headers
X-Farm-Capability: base
--- response_headers
X-Farm-Agent: w
--- no_error_log
[alert]
[crit]
