# farm-agent's HTTP endpoints, standalone (no registry).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET ();
use Test::More;
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my $a = start_agent(id => 'ep1', region => 'eu', cap => 'gpu,ssd',
                    weight => 5, max_conns => 3);

# /health

my ($st, $h, $body) = http_get($a, '/health');
is($st, 200, '/health: 200');
is($h->{'x-farm-agent'}, 'ep1', '/health: X-Farm-Agent');
like($h->{'content-type'}, qr{^application/json}, '/health: JSON');
my $j = json_of($body);
ok($j, '/health: body parses as JSON') or diag $body;
is($j->{id}, 'ep1', '/health: id');
is($j->{service}, 'agents', '/health: service');
is($j->{status}, 'up', '/health: status up');
is($j->{region}, 'eu', '/health: region');
is_deeply($j->{caps}, ['gpu', 'ssd'], '/health: caps');
is($j->{weight}, 5, '/health: weight');
is($j->{max_conns}, 3, '/health: max_conns');
ok(JSON::PP::is_bool($j->{registered}) && !$j->{registered},
   '/health: registered is false without a registry');
like($j->{version}, qr/^\d+\.\d+\.\d+$/, '/health: version');
like($j->{uptime}, qr/^\d+(\.\d+)?(e-?\d+)?$/, '/health: uptime in seconds');
for my $k (qw(inflight inflight_peak served)) {
    like($j->{$k}, qr/^\d+$/, "/health: $k is a count");
}

# /work

($st, $h, $body) = http_get($a, '/work?ms=20');
is($st, 200, '/work?ms=20: 200');
is($h->{'x-farm-agent'}, 'ep1', '/work: X-Farm-Agent');
is_deeply(json_of($body), { id => 'ep1', ms => 20, status => 200 },
          '/work: body {id, ms, status}');

($st, $h, $body) = http_get($a, '/work');
is($st, 200, '/work without ms answers at once');

($st, $h, $body) = http_get($a, '/work?ms=1&status=503');
is($st, 503, '/work?status=503: simulated failure status');
is(json_of($body)->{status}, 503, '/work?status=503: status in the body');

for my $q ('ms=-1', 'ms=600001', 'ms=abc', 'status=199', 'status=600',
           'status=2x')
{
    ($st, $h, $body) = http_get($a, "/work?$q");
    is($st, 400, "/work?$q: 400");
    like(json_of($body)->{error}, qr/^(ms|status): must be an integer/,
         "/work?$q: the error names the parameter");
}

# /work?ms=N does not block other requests: /health answers while it waits

my $slow = http_start($a, '/work?ms=3000');
wait_until(sub { json_of((http_get($a, '/health'))[2])->{inflight} == 1 },
           5, '/work to be in flight');
($st) = http_get($a, '/health');
is($st, 200, '/health answers while /work?ms=3000 is in flight');
ok(http_pending($slow), '... and /work has not answered yet');
($st, undef, $body) = http_get($a, '/echo');
is($st, 200, '/echo answers too');
ok(http_pending($slow), '... and /work still has not answered');
($st, $h, $body) = http_finish($slow, 10);
is($st, 200, 'then /work?ms=3000 answers 200');

# /echo

($st, $h, $body) = http_get($a, '/echo?x=1&y=2', 'X-Test' => 'hello',
                            'User-Agent' => 'farm-test');
is($st, 200, '/echo: 200');
like($h->{'content-type'}, qr{^text/plain}, '/echo: text/plain');
is($h->{'x-farm-agent'}, 'ep1', '/echo: X-Farm-Agent');
my @lines = split /\n/, $body;
is($lines[0], 'GET /echo?x=1&y=2 HTTP/1.1', '/echo: the request line first');
ok((grep { $_ eq 'X-Test: hello' } @lines), '/echo: a request header');
ok((grep { $_ eq 'User-Agent: farm-test' } @lines), '/echo: User-Agent');
ok((grep { $_ eq 'Connection: close' } @lines), '/echo: Connection');
ok((grep { /^Host: / } @lines), '/echo: Host');

# /echo does not reflect credentials (review A29)

($st, $h, $body) = http_get($a, '/echo', 'Authorization' => 'Bearer s3cret',
                            'Cookie' => 'session=c00kie',
                            'Proxy-Authorization' => 'Basic pr0xy');
is($st, 200, '/echo with credentials: 200');
unlike($body, qr/s3cret|c00kie|pr0xy/,
       '/echo: Authorization, Cookie and Proxy-Authorization values hidden');
like($body, qr/^Authorization: \[hidden\]$/m,
     '/echo: the header is listed, its value "[hidden]"');

# bodies and heads the built-in endpoints do not need are refused (A29)

{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $a->{port}, Proto => 'tcp')
        or die "connect: $!";
    print {$s} "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576"
               . "\r\nConnection: close\r\n\r\n";
    my ($code) = http_finish($s, 3);
    is($code, 413, '/echo announcing a 1 MB body: 413 at once');

    ($code) = http_get($a, '/echo', 'X-Big' => 'b' x (20 * 1024));
    ok(!defined $code || $code >= 400,
       'a 20 KB request head is refused');
}

# 404

($st, $h, $body) = http_get($a, '/nowhere');
is($st, 404, 'unknown path: 404');
is_deeply(json_of($body), { error => 'not found' }, '404: JSON error');
is($h->{'x-farm-agent'}, 'ep1', '404: X-Farm-Agent');

# --max-conns 3: the fourth request in progress gets 503 + Retry-After

my @busy = map { http_start($a, '/work?ms=5000') } 1 .. 3;
wait_until(sub { json_of((http_get($a, '/health'))[2])->{inflight} == 3 },
           5, 'three requests in flight');
($st, $h, $body) = http_get($a, '/work?ms=1');
is($st, 503, 'at --max-conns: 503');
is($h->{'retry-after'}, '1', 'at --max-conns: Retry-After: 1');
is_deeply(json_of($body), { error => 'agent at capacity' },
          'at --max-conns: JSON error');
($st) = http_get($a, '/health');
is($st, 200, 'at --max-conns: /health still answers');
($st) = http_get($a, '/metrics');
is($st, 200, 'at --max-conns: /metrics still answers');

# clients that leave early free their slots at once

close $_ for @busy;
wait_until(sub { json_of((http_get($a, '/health'))[2])->{inflight} == 0 },
           5, 'inflight back to 0 after the clients left');
($st) = http_get($a, '/work?ms=1');
is($st, 200, 'a slot is free again');
$j = json_of((http_get($a, '/health'))[2]);
is($j->{inflight_peak}, 3, 'inflight_peak remembers 3');

# /metrics

($st, $h, $body) = http_get($a, '/metrics');
is($st, 200, '/metrics: 200');
like($h->{'content-type'}, qr{^text/plain; version=0\.0\.4},
     '/metrics: Prometheus text format 0.0.4');
is($h->{'x-farm-agent'}, 'ep1', '/metrics: X-Farm-Agent');

for my $m (qw(farm_agent_requests_total farm_agent_inflight
              farm_agent_inflight_peak farm_agent_served_total
              farm_agent_uptime_seconds farm_agent_registered
              farm_agent_registrations_total farm_agent_draining
              farm_agent_info))
{
    like($body, qr/^# HELP $m \S.*$/m, "/metrics: # HELP $m");
    like($body, qr/^# TYPE $m (counter|gauge)$/m, "/metrics: # TYPE $m");
}

like($body, qr/^farm_agent_requests_total\{code="200"\} [1-9]\d*$/m,
     '/metrics: 200 responses counted');
like($body, qr/^farm_agent_requests_total\{code="503"\} [1-9]\d*$/m,
     '/metrics: 503 responses counted');
like($body, qr/^farm_agent_requests_total\{code="404"\} 1$/m,
     '/metrics: the 404 counted');
like($body, qr/^farm_agent_inflight 0$/m, '/metrics: inflight');
like($body, qr/^farm_agent_cut_off_total 3$/m,
     "/metrics: the three clients that left are counted as cut off");
like($body, qr/^farm_agent_rejected_total 1$/m, "/metrics: the 503 at capacity");
like($body, qr/^farm_agent_inflight_peak 3$/m, '/metrics: inflight_peak');
like($body, qr/^farm_agent_registered 0$/m, '/metrics: registered 0');
like($body, qr/^farm_agent_draining 0$/m, '/metrics: draining 0');
like($body, qr/^farm_agent_uptime_seconds \d+(\.\d+)?(e-?\d+)?$/m,
     '/metrics: uptime');
like($body, qr/^farm_agent_info\{id="ep1",service="agents",region="eu"[,}].* 1$/m,
     '/metrics: farm_agent_info{id,service,region} 1');

my ($served) = $body =~ /^farm_agent_served_total (\d+)$/m;
my $hj = json_of((http_get($a, '/health'))[2]);
is($hj->{served}, $served, '/health and /metrics agree on served');

# every line is a comment or a sample
my @odd = grep { !/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? \S+)$/ }
          split /\n/, $body;
is_deeply(\@odd, [], '/metrics: only HELP, TYPE and sample lines');

# what Prometheus' own linter says of it (promtool: scripts/deps.sh)
SKIP: {
    skip 'promtool not installed (scripts/deps.sh installs it)', 1
        unless grep { -x "$_/promtool" } split /:/, $ENV{PATH};
    open(my $pt, '|-', 'promtool check metrics >/dev/null 2>&1')
        or die "promtool: $!\n";
    print {$pt} $body;
    close $pt;
    is($? >> 8, 0, '/metrics: promtool check metrics exits 0');
}

is(stop_agent($a), 0, 'exit status 0 after SIGTERM');
check_agent_log($a);

# --auto-weight: the reported weight follows the spare room, bounded to
# --weight/10 .. --weight

{
    my $w = start_agent(id => 'aw1', weight => 100, max_conns => 2,
                        extra => ['--auto-weight']);
    my $weight = sub { json_of((http_get($w, '/health'))[2])->{weight} };
    my $first = $weight->();
    ok($first >= 10 && $first <= 100, "auto weight $first is within 10..100");

    my @busy = map { http_start($w, '/work?ms=8000') } 1 .. 2;
    my ($low, $seen_out) = (100, 0);
    wait_until(sub {
        my $v = $weight->();
        $seen_out++ if $v < 10 || $v > 100;
        $low = $v if $v < $low;
        $v == 10;
    }, 8, 'the weight to reach its floor with every slot taken');
    is($low, 10, 'all --max-conns slots busy: weight at the floor, 10');
    is($seen_out, 0, 'never outside 10..100 on the way');
    like((http_get($w, '/metrics'))[2], qr/^farm_agent_weight 10$/m,
         'farm_agent_weight 10');
    http_finish($_, 1) for @busy;
    is(stop_agent($w), 0, 'exit status 0 after SIGTERM');
    check_agent_log($w);
}

done_testing();
