# A Redis registry behind a password, in a database other than 0.

use Test::Nginx::Socket 'no_plan';
use FarmTest;

our $Redis = start_redis();
redis_cmd($Redis, 'CONFIG', 'SET', 'requirepass', 's3cret');

# the agents' view: password and database 3 in the URL
our $Registry = { %$Redis, url => "redis://:s3cret\@127.0.0.1:$Redis->{port}/3" };
our %Agent;

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->{port};

sub agents {
    # FarmTest's own Redis client speaks no AUTH: rely on the gateway's view
    my (%want) = @_;
    $_->{wait_registered} = 0 for values %want;
    ensure_agents($Registry, \%Agent, %want);
}

add_block_preprocessor(sub {
    my $block = shift;

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

=== TEST 1: with the password and the database in the URL, agents are found and routed
--- http_config
    upstream agents {
        farm_registry redis://:s3cret@127.0.0.1:$TEST_NGINX_REDIS_PORT/3 service=agents;
    }
--- init
main::agents(secure => {});
--- request
GET /work?ms=0
--- response_headers
X-Farm-Agent: secure
--- no_error_log
[error]



=== TEST 2: the password never shows in farm_status
--- http_config
    upstream agents {
        farm_registry redis://:s3cret@127.0.0.1:$TEST_NGINX_REDIS_PORT/3 service=agents;
    }
--- init
main::agents(secure => {});
--- request
GET /farm
--- response_body_like: "registry":"redis://127\.0\.0\.1:\d+/3"
--- response_body_unlike: s3cret
--- no_error_log
[error]



=== TEST 3: the right password but database 0: the agents registered in 3 are not there
--- http_config
    upstream agents {
        farm_registry redis://:s3cret@127.0.0.1:$TEST_NGINX_REDIS_PORT service=agents;
    }
--- request
GET /work?ms=0
--- error_code: 503
--- response_body
{"error":"no agents registered","upstream":"agents","service":"agents","agents":0}
--- error_log
no live upstreams



=== TEST 4: a wrong password: nginx starts, logs the refusal, and answers 503
--- http_config
    upstream agents {
        farm_registry redis://:wrong@127.0.0.1:$TEST_NGINX_REDIS_PORT/3 service=agents;
    }
--- request
GET /work?ms=0
--- error_code: 503
--- error_log eval
[qr/farm: registry redis:\/\/127\.0\.0\.1:\d+\/3 of upstream "agents" unreachable at start \(AUTH failed\)/,
 qr/farm: registry redis:\/\/127\.0\.0\.1:\d+\/3 refused AUTH or SELECT: WRONGPASS/]
--- no_error_log
wrong@
