# farm_queue: when every agent is at max_conns the request waits, highest
# priority first and first come first within a priority, and gets the next
# agent that frees up; a full queue or the timeout gives 503.
# farm_client_limit caps one client's requests in flight.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
our %Agent;
our $Order = servroot() . '/../farm-queue-order.txt';

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    ensure_agents($Redis, \%Agent, @_);
}

sub farm { farm_status()->{farms}[0] }

# a request left in flight that writes its tag to $Order when it is answered
sub tagged {
    my ($tag, $path, %headers) = @_;
    my $url = 'http://127.0.0.1:' . gateway_port() . $path;
    my $h = join ' ', map { "-H '$_: $headers{$_}'" } sort keys %headers;
    return background("request $tag", 'sh', '-c',
                      "code=\$(curl -s -o /dev/null -w '%{http_code}' $h '$url'); "
                      . "echo \"$tag \$code\" >> $Order");
}

sub order {
    open my $fh, '<', $Order or return '';
    return join ',', map { chomp; $_ } <$fh>;
}

add_block_preprocessor(sub {
    my $block = shift;
    my $queue = $block->queue // 'max=3 timeout=5s priority=$http_x_priority';
    chomp $queue;

    $block->set_value('http_config', <<_EOC_) unless defined $block->http_config;
    upstream agents {
        farm_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT service=agents
                      resync=300ms;
        farm_queue $queue;
        farm_client_limit key=\$http_x_client max=2;
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

=== TEST 1: with the only agent busy, a request waits and is served when it frees up
--- init
unlink $main::Order;
main::agents(q1 => { max_conns => 1 });
my $long = main::tagged('long', '/work?ms=1000');
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the long request');
my $short = main::tagged('short', '/work?ms=0');
FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == 1 }, 5, 'one waiting');
FarmTest::finish($_, 10) for $long, $short;
Test::More::is(main::order(), 'long 200,short 200', 'the waiting request got the agent after the long one');
my $q = main::farm()->{queue};
Test::More::is("$q->{queued} $q->{dispatched} $q->{timed_out} $q->{waiting}", '1 1 0 0',
               'queued 1, dispatched 1, none timed out, none waiting');
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,"max":3,"timeout_ms":5000,"queued":1,"dispatched":1,"timed_out":0,"full":0,"avg_wait_ms":\d+,"max_wait_ms":\d+\}
--- no_error_log
[error]



=== TEST 2: highest priority first, then first come first served
--- init
unlink $main::Order;
main::agents(q1 => { max_conns => 1 });
my @bg = (main::tagged('busy', '/work?ms=1000'));
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the agent busy');
my $n = 0;
for my $r (['low1', 1], ['low2', 1], ['high', 10]) {
    push @bg, main::tagged($r->[0], '/work?ms=100', 'X-Priority' => $r->[1]);
    $n++;
    FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == $n }, 5, "$n waiting");
}
FarmTest::finish($_, 15) for @bg;
Test::More::is(main::order(), 'busy 200,high 200,low1 200,low2 200',
               'dispatched: high priority, then low ones in arrival order');
--- request
GET /farm
--- response_body_like: "queue":\{"waiting":0,.*"dispatched":3,
--- no_error_log
[error]



=== TEST 3: a full queue: 503 with a JSON body and Retry-After
--- init
unlink $main::Order;
main::agents(q1 => { max_conns => 1 });
our @Bg = (main::tagged('busy', '/work?ms=1500'));
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the agent busy');
for my $n (1 .. 3) {
    push @Bg, main::tagged("w$n", '/work?ms=0');
    FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == $n }, 5, "$n waiting");
}
--- request
GET /work?ms=0
--- error_code: 503
--- response_headers
Content-Type: application/json
Retry-After: 1
--- response_body
{"error":"every agent is busy and the queue is full","queue":{"max":3},"upstream":"agents","service":"agents","agents":1}
--- no_error_log
[error]



=== TEST 4: the queue timeout: 503 saying so
--- queue
max=3 timeout=300ms
--- init
FarmTest::finish($_, 15) for @main::Bg;
main::agents(q1 => { max_conns => 1 });
our $Busy = main::tagged('busy', '/work?ms=2000');
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the agent busy');
--- request
GET /work?ms=0
--- error_code: 503
--- response_body
{"error":"every agent stayed busy: no agent within the queue timeout","queue":{"timeout_ms":300},"upstream":"agents","service":"agents","agents":1}
--- no_error_log
[error]



=== TEST 5: a client that leaves while waiting gives its place up
--- init
FarmTest::finish($main::Busy, 15);
main::agents(q1 => { max_conns => 1 });
my $busy = main::tagged('busy', '/work?ms=1500');
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 1 }, 5, 'the agent busy');
my $gone = FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=0');
FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == 1 }, 5, 'one waiting');
FarmTest::kill_agent({ pid => $gone });     # the client hangs up
FarmTest::wait_until(sub { main::farm()->{queue}{waiting} == 0 }, 5, 'the place given up');
FarmTest::finish($busy, 10);
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 0 }, 5, 'nothing left taken');
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: q1
--- no_error_log
[error]



=== TEST 6: no agent can take requests at all (all gone): refused at once, not queued
--- init
main::agents();
--- request
GET /work?ms=0
--- error_code: 503
--- response_body
{"error":"no agents registered","upstream":"agents","service":"agents","agents":0}
--- error_log
no live upstreams



=== TEST 7: farm_client_limit: a client with 2 requests in flight gets 429 for a third, others do not; the count ends with the requests
--- init
main::agents(c1 => {}, c2 => {});
my @held = map { FarmTest::background_get(FarmTest::gateway_port(), '/work?ms=1500',
                                          'X-Client' => 'alice') } 1 .. 2;
FarmTest::wait_until(sub { main::farm()->{totals}{active} == 2 }, 5, 'alice holds two');
my ($code, $h, $body) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => 'alice');
Test::More::is($code, 429, 'alice\'s third: 429');
Test::More::is($body, qq({"error":"too many requests at once from this client","limit":2,"upstream":"agents","service":"agents","agents":2}\n),
               'the JSON body');
($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => 'bob');
Test::More::is($code, 200, 'bob is not limited by alice');
FarmTest::wait_until(sub { FarmTest::finished($_) }, 10, 'held requests') for @held;
($code) = FarmTest::http_get(FarmTest::gateway_port(), '/work?ms=0', 'X-Client' => 'alice');
Test::More::is($code, 200, 'alice again, once hers ended');
--- request
GET /farm
--- response_body_like: "client_limit":\{"max":2,"limited":1\}
--- no_error_log
[error]
