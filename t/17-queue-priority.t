# farm_queue priority= across workers (review A11): a request's priority is
# worked out before it takes the zone lock, so an agent that frees up in
# another worker while a slow priority= value is being evaluated is never
# missed.  Before the fix the lock was dropped to evaluate priority= and the
# request then queued next to an idle agent, waiting for the whole timeout=.
#
# The window is widened with configuration only: priority= comes from a map
# of a few hundred regular expressions run over a long header (a few hundred
# ms per evaluation), and the agent answers sooner than that.  The second
# server listens with reuseport, so the two requests of a round land in
# different workers about half of the time.  timeout= is 60s and the clients
# give up after 20s: a request that waited for the queue timeout shows as a
# client that got no answer.  Nothing here measures time.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;
our $Pad = 'a' x 8000;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};
$ENV{TEST_NGINX_RP_PORT} = FarmTest::free_port();

sub farm { farm_status()->{farms}[0] }

# a request in the background with its priority, through the reuseport
# server; curl gives up after 20 s
sub prio_get {
    my ($prio, $ms) = @_;
    my $url = "http://127.0.0.1:$ENV{TEST_NGINX_RP_PORT}/work?ms=$ms";
    return FarmTest::background("priority $prio", 'curl', '-s', '-o',
                                '/dev/null', '-w', '%{http_code}',
                                '--max-time', '20', '-H', "X-Pad: $Pad",
                                '-H', "X-Prio: $prio", $url);
}

sub code_of {
    my ($h) = @_;
    my ($rc, $out) = FarmTest::finish($h, 40);
    return $out eq '' ? "exit $rc" : $out;
}

add_block_preprocessor(sub {
    my $block = shift;
    my $slow = join '', map { qq{        "~a[^a]" 99;\n} } 1 .. 300;

    $block->set_value('http_config', <<_EOC_);
    map \$http_x_pad \$slow_prio {
$slow        default \$http_x_prio;
    }
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_queue max=50 timeout=60s priority=\$slow_prio;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_RP_PORT reuseport;
        location / {
            proxy_pass http://agents;
        }
    }
_EOC_

    $block->set_value('config', <<'_EOC_');
    location / {
        proxy_pass http://agents;
    }
    location = /farm {
        farm_status;
    }
_EOC_
});

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: pairs of requests on an agent that takes one at a time: the second is served as soon as the first is done, never after the queue timeout
--- init
FarmTest::ensure_agents($main::Redis, \%main::Agent, one => { max_conns => 1 });
my @codes;
for my $round (1 .. 8) {
    my $first = main::prio_get($round, 100);
    my $second = main::prio_get(10 - $round, 0);
    push @codes, main::code_of($_) for $first, $second;
}
Test::More::is(join(' ', @codes), join(' ', ('200') x 16),
               'all 16 requests answered 200 within 20 s');
my $q = main::farm()->{queue};
Test::More::is("$q->{timed_out} $q->{waiting}", '0 0', 'none timed out, none waiting');
Test::More::is(main::farm()->{totals}{active}, 0, 'nothing left taken');
--- request
GET /farm
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: twelve concurrent requests with twelve priorities: all served, none waits for the timeout
--- init
FarmTest::ensure_agents($main::Redis, \%main::Agent, one => { max_conns => 1 });
my @bg = map { main::prio_get($_ * 3 - 20, 50) } 1 .. 12;
my @codes = map { main::code_of($_) } @bg;
Test::More::is(join(' ', @codes), join(' ', ('200') x 12),
               'all 12 requests answered 200 within 20 s');
my $q = main::farm()->{queue};
Test::More::is("$q->{timed_out} $q->{waiting}", '0 0', 'none timed out, none waiting');
Test::More::is(main::farm()->{totals}{active}, 0, 'nothing left taken');
--- request
GET /farm
--- error_code: 200
--- no_error_log
[error]
