# Self-test: use_hup() (reload between blocks instead of restart),
# repeat_each(), workers(), master process, no_plan.
use FarmTest ();
BEGIN {
    $ENV{TEST_NGINX_SERVROOT} ||= FarmTest::repo_root() . '/t/servroot-selftest';
    $ENV{TEST_NGINX_PORT} ||= FarmTest::free_port();
}
use Test::Nginx::Socket 'no_plan';

use_hup();
repeat_each(2);
workers(2);
no_shuffle();

our @Pids;
run_tests();

my %distinct = map { $_ => 1 } @Pids;
Test::More::is(scalar(@Pids), 3, 'init ran once per block');
Test::More::is(scalar(keys %distinct), 1, 'the same nginx master served every block (HUP)');

__DATA__

=== TEST 1: first config
--- config
    location = /t {
        return 200 "one $request_method\n";
    }
--- init
push @main::Pids, get_pid_from_pidfile('init');
--- request
GET /t
--- response_body
one GET



=== TEST 2: an [error] in every request of this block
# NB: with several requests, error_log is checked after each request against
# the lines that request added (same as the real Test::Nginx)
--- config
    location = /t {
        return 200 "two\n";
    }
    location /missing/ {
        root html;
    }
--- init
push @main::Pids, get_pid_from_pidfile('init');
--- request eval
["GET /missing/x", "GET /missing/y"]
--- error_code eval
[404, 404]
--- response_body_like eval
["Not Found", "Not Found"]
--- error_log
No such file or directory



=== TEST 3: error.log only has this block's lines
--- config
    location = /t {
        return 200 "three\n";
    }
--- init
push @main::Pids, get_pid_from_pidfile('init');
--- request
GET /t
--- response_body
three
--- no_error_log
No such file or directory
