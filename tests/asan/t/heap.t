# Not a suite of its own: tests/asan/control.t runs this file through
# tests/run.pl --sanitizer-dir to see a report counted and printed.  Its
# only block is otherwise clean; the control module overflows a heap block.

use Test::Nginx::Socket 'no_plan';

master_on();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a heap overflow in a module, nothing else wrong
--- config
    location /control { farm_asan_control; }
--- request
GET /control?bug=heap
--- ignore_response
--- no_error_log
[error]
