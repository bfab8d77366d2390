# farm-agent --busy-poll: the event loop polls without sleeping for a while
# after the proxy last read something (agent/loop.c).  What a user notices must not
# change: requests through --app are answered, keep-alive holds, the
# agent's own endpoints answer, and SIGTERM with a request in flight
# finishes it and exits 0 (the loop must see the exit it is told of).
# Latency is measured by scripts/bench-agent.sh, not here.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use FarmTest;
use AgentTest;

plan skip_all => 'farm-agent not built (' . agent_binary() . ')'
    unless -x agent_binary();

my $app = start_app();
my $app_url = "http://127.0.0.1:$app->{port}";

my @flags = ('--app', $app_url, '--app-health', '/health',
             '--app-health-interval', '100ms', '--busy-poll', '200');

# (status of /_farm/health, its JSON)
sub health {
    my ($st, undef, $body) = http_get($_[0], '/_farm/health');
    return ($st // 0, json_of($body) // {});
}

# forwarding, many requests on one kept-alive client connection

{
    my $a = start_agent(id => 'busy1', extra => \@flags);
    wait_until(sub { (health($a))[0] == 200 }, 10, 'the app to be up');

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $a->{port}, Proto => 'tcp',
                                  Timeout => 10) or die "connect: $!";
    my $answered = 0;

    for my $i (1 .. 50) {
        print {$s} "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
        my $buf = '';
        my $sel = IO::Select->new($s);
        while ($buf !~ /hello from app\n/) {
            last unless $sel->can_read(10);
            last unless sysread $s, $buf, 4096, length $buf;
        }
        $answered++ if $buf =~ /^HTTP\/1\.1 200 .*hello from app\n\z/s;
    }
    close $s;
    is($answered, 50, '50 requests on one keep-alive connection: all 200 '
                      . 'from the app');

    my ($st, $h) = health($a);
    is($st, 200, 'the agent\'s own /_farm/health answers');
    is($h->{inflight}, 0, '... nothing in flight afterwards');

    is(stop_agent($a), 0, 'exit 0');
}

# SIGTERM while a request is in flight (the loop is polling then)

{
    my $a = start_agent(id => 'busy2', extra => \@flags);
    wait_until(sub { (health($a))[0] == 200 }, 10, 'the app to be up');

    my $slow = http_start($a, '/slow?ms=1000');
    wait_until(sub { (health($a))[1]{inflight} == 1 }, 10, '1 in flight');

    stop_signal($a, 'TERM');
    my ($st, undef, $body) = http_finish($slow, 20);
    is($st, 200, 'SIGTERM: the request in flight completes with 200');
    like($body // '', qr/slept 1000/, '... with the app\'s answer');
    is(wait_exit($a, 20), 0, 'then the agent exits 0');
}

stop_app($app);

done_testing();
