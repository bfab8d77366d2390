#!/usr/bin/perl
# Positive control of make test-asan: proves that a memory error in a
# dynamic module, built and run the way make test-asan builds and runs
# ngx_http_farm_module, is caught and written where make test-asan looks.
#
# tests/asan/control/ngx_http_farm_asan_control_module.c is built beside the
# module by FARM_ASAN=1 scripts/build-module.sh, with the same flags.  This
# test starts Debian's nginx through scripts/nginx-asan with both modules
# loaded and a report directory of its own (so that these intended reports
# do not count against the run), asks the control location for one heap
# overflow and one undefined shift, and checks that each kills its worker
# before it answers and leaves a report that names the error and the source
# line.  Then it runs tests/asan/t/heap.t, a Test::Nginx file whose request
# makes the same overflow, through tests/run.pl --sanitizer-dir, and checks
# that the report fails that file and is printed with the worker's
# error.log lines.  Skipped when the sanitizer build is not there (make
# test-asan builds it).

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use Test::More;
use Time::HiRes qw(sleep);

use FarmTest;

my $root = repo_root();
my $asan = "$root/build/asan";
my $control = "$asan/ngx_http_farm_asan_control_module.so";
my $module = "$asan/ngx_http_farm_module.so";

plan skip_all => "no sanitizer build (FARM_ASAN=1 scripts/build-module.sh)"
    unless -f $control && -f $module;

my $reports = "$asan/control-reports";
remove_tree($reports);
make_path($reports);

my $g = start_nginx(
    binary  => "$root/scripts/nginx-asan",
    modules => "$module $control",
    env     => { FARM_SANITIZER_DIR => $reports, FARM_TEST_FILE => 'control' },
    http    => 'server { listen 127.0.0.1:$PORT; '
               . 'location /control { farm_asan_control; } }',
);

# All report files so far, as { name => text }.
sub reports {
    my %r;
    for my $f (glob "$reports/*") {
        open my $fh, '<', $f or next;
        local $/;
        $r{$f} = <$fh>;
    }
    return \%r;
}

# Wait for a report matching $re; returns its text or undef.
sub report_like {
    my ($re) = @_;
    my $found;
    eval {
        wait_until(sub { ($found) = grep { /$re/ } values %{ reports() };
                         defined $found }, 10, 'a sanitizer report');
    };
    return $found;
}

my ($status, undef, $body) = http_get($g->{port}, '/control?bug=none');
is($status, 200, 'no bug: the control answers');
is($body, "survived\n", 'no bug: with its body');
is_deeply([ keys %{ reports() } ], [], 'no bug: no report');

($status) = http_get($g->{port}, '/control?bug=heap');
is($status, undef, 'heap overflow: the worker dies before it answers');
my $r = report_like(qr/AddressSanitizer: heap-buffer-overflow/);
ok($r, 'heap overflow: AddressSanitizer wrote a report');
like($r // '', qr/WRITE of size 1 .*\n\s+#0 \S+ in ngx_http_farm_asan_control_handler \S*ngx_http_farm_asan_control_module\.c:\d+/,
     'heap overflow: the report names the write and its source line');

($status) = http_get($g->{port}, '/control?bug=shift');
is($status, undef, 'undefined shift: the worker dies before it answers');
$r = report_like(qr/runtime error: shift exponent 32/);
ok($r, 'undefined shift: UBSan wrote a report');
like($r // '', qr/ngx_http_farm_asan_control_module\.c:\d+:\d+: runtime error/,
     'undefined shift: the report names the source line');

($status, undef, $body) = http_get($g->{port}, '/control?bug=none');
is($status, 200, 'a new worker answers again');

my $log = do {
    open my $fh, '<', $g->{error_log} or die "$g->{error_log}: $!\n";
    local $/;
    <$fh>;
};
my @died = $log =~ /worker process \d+ exited with code 1/g;
is(scalar @died, 2, 'error.log: two workers exited with code 1');

is(stop_nginx($g), 0, 'nginx stops cleanly');
is(scalar keys %{ reports() }, 2, 'exactly the two intended reports');

# The same bug inside a Test::Nginx suite, run by tests/run.pl as make
# test-asan runs t/: the report must count as a failure of that file and be
# printed with the worker's error.log lines.
my $servroot = "$asan/control-servroot";
remove_tree($servroot);
my $out = do {
    local $ENV{TEST_NGINX_BINARY} = "$root/scripts/nginx-asan";
    local $ENV{TEST_NGINX_LOAD_MODULES} = "$module $control";
    local $ENV{TEST_NGINX_SERVROOT} = $servroot;
    local $ENV{TEST_NGINX_PORT} = free_port();
    open my $run, '-|', $^X, "$root/tests/run.pl", '--sanitizer-dir', $reports,
        "$root/tests/asan/t/heap.t"
        or die "tests/run.pl: $!\n";
    local $/;
    my $text = <$run>;
    close $run;
    $text;
};
my $run_status = $? >> 8;
is($run_status, 1, 'run.pl: exit status 1');
like($out, qr/^\d+ passed, 1 failed\n\z/m, 'run.pl: the last line counts the report');
like($out, qr{^tests/asan/t/heap\.t: 1 sanitizer report$}m,
     'run.pl: the report is a failure of the file that caused it');
like($out, qr/^=== sanitizer report .*\n(?s:.*?)AddressSanitizer: heap-buffer-overflow/m,
     'run.pl: the report is printed');
like($out, qr/^=== its context (?s:.*)worker process \d+ exited with code 1/m,
     'run.pl: with the error.log lines of the worker that died');
diag($out) unless Test::More->builder->is_passing;
remove_tree($servroot);

done_testing();
