#!/usr/bin/env perl
# tests/run.pl -- run every test of the project through TAP::Harness (the
# runner behind `make test`).
#
#   tests/run.pl                      unit + agent + nginx tests
#   tests/run.pl --only unit          cmocka executables in build/tests/
#   tests/run.pl --only agent,nginx   tests/agent/*.t, t/*.t
#   tests/run.pl t/01-basic.t ...     just these files (or directories)
#   tests/run.pl -v ...               verbose TAP
#   tests/run.pl --unit-dir DIR       unit tests from DIR (make test-asan)
#   tests/run.pl --sanitizer-dir DIR  count sanitizer reports (make test-asan)
#
# Sections:
#   unit   every executable file under build/tests/, run with
#          CMOCKA_MESSAGE_OUTPUT=TAP so that cmocka speaks TAP
#   agent  tests/agent/*.t
#   nginx  t/*.t (Test::Nginx block format).  If the real Test::Nginx::Socket
#          is not installed, t/harness (our implementation) goes on PERL5LIB
#          for these files only.
# t/lib (FarmTest.pm) is always on PERL5LIB.  Every test runs with
# FARM_TEST_FILE set to its file name.
#
# --sanitizer-dir DIR (make test-asan): the sanitizers of everything the
# tests start write their reports as files into DIR (scripts/nginx-asan for
# nginx; ASAN_OPTIONS=log_path for the rest).  DIR is emptied first and
# exported as FARM_SANITIZER_DIR.  After each test file, every new report in
# DIR counts as one failed assertion of that file; it is printed with the
# end of nginx's error.log that t/harness keeps beside it
# (<report>.error.log), then moved to DIR/counted/.
#
# Defaults set when not already in the environment:
#   TEST_NGINX_BINARY        /usr/sbin/nginx (if it exists)
#   TEST_NGINX_LOAD_MODULES  <repo>/build/ngx_http_farm_module.so (if built)
#   TEST_NGINX_PORT          a free local port (so parallel checkouts on one
#                            machine do not fight over 1984)
#
# Output: the usual TAP::Harness progress, then every failing file with its
# failed assertions and their diagnostics, then exactly one last line
# "N passed, N failed" counting individual assertions; a file that dies or
# has a bad plan counts as at least one failure.  Exit status 1 if anything
# failed.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Find ();
use Getopt::Long qw(GetOptions);
use IO::Socket::INET ();
use TAP::Harness;

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/..');
chdir $ROOT or die "cannot chdir to $ROOT: $!\n";

my (@only, $verbose, $help);
my $unit_dir = 'build/tests';
my $san_dir;
GetOptions('only=s' => \@only, 'verbose|v' => \$verbose, 'help|h' => \$help,
           'unit-dir=s' => \$unit_dir, 'sanitizer-dir=s' => \$san_dir)
    or usage(2);
usage(0) if $help;
@only = map { split /,/ } @only;
for (@only) {
    usage(2, "unknown section '$_' (use unit, agent or nginx)")
        unless /^(unit|agent|nginx)$/;
}

sub usage {
    my ($code, $msg) = @_;
    print STDERR "$msg\n" if $msg;
    print STDERR "usage: tests/run.pl [--only unit|agent|nginx[,...]] [-v]\n"
               . "                    [--unit-dir DIR] [--sanitizer-dir DIR] [FILE|DIR ...]\n";
    exit $code;
}

# ---------------------------------------------------------------------------
# what to run
# ---------------------------------------------------------------------------

sub unit_tests {
    my ($dir) = @_;
    return () unless -d $dir;
    my @found;
    File::Find::find({ no_chdir => 1, wanted => sub {
        if (-d $_) {
            $File::Find::prune = 1 if m{/(?:CMakeFiles|\.[^/]*)$};
            return;
        }
        return unless -f _ && -x _;
        return if m{/\.[^/]*$} || /\.(?:so|a|o|d|h|c|txt|log)$/;
        push @found, $_;
    } }, $dir);
    return sort @found;
}

sub kind_of {
    my ($file) = @_;
    return 'nginx' if $file =~ m{(?:^|/)t/} && $file =~ /\.t$/;
    return 'agent' if $file =~ /\.t$/;
    return 'unit';
}

my @files;
if (@ARGV) {
    for my $arg (@ARGV) {
        (my $path = $arg) =~ s{^\Q$ROOT\E/}{};
        $path =~ s{^\./}{};
        $path =~ s{/+$}{};
        if (-d $path) {
            my @in = $path =~ m{(?:^|/)build/tests[^/]*(?:/|$)} ? unit_tests($path)
                                                           : sort glob("$path/*.t");
            warn "run.pl: no tests in $path\n" unless @in;
            push @files, @in;
        } elsif (-e $path) {
            push @files, $path;
        } else {
            die "run.pl: no such test: $arg\n";
        }
    }
} else {
    push @files, unit_tests($unit_dir);
    push @files, sort glob('tests/agent/*.t');
    push @files, sort glob('t/*.t');
}
my %kind = map { $_ => kind_of($_) } @files;
if (@only) {
    my %want = map { $_ => 1 } @only;
    @files = grep { $want{ $kind{$_} } } @files;
}

# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------

$ENV{CMOCKA_MESSAGE_OUTPUT} = 'TAP';
$ENV{TEST_NGINX_BINARY} //= '/usr/sbin/nginx' if -x '/usr/sbin/nginx';
$ENV{TEST_NGINX_LOAD_MODULES} //= "$ROOT/build/ngx_http_farm_module.so"
    if -f "$ROOT/build/ngx_http_farm_module.so";
if (!$ENV{TEST_NGINX_PORT} && !$ENV{TEST_NGINX_SERVER_PORT}) {
    # below the kernel's ephemeral range (as FarmTest::free_port): nginx
    # stops and starts between blocks, and in between an outgoing
    # connection could take a port the kernel handed out
    my ($lo, $hi) = (10000, 32767);
    if (open my $f, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my ($eph) = split ' ', scalar <$f>;
        $hi = $eph - 1 if $eph && $eph - 1 > $lo + 1000;
    }
    for (1 .. 500) {
        my $port = $lo + int rand($hi - $lo + 1);
        IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                              Proto => 'tcp', Listen => 1, ReuseAddr => 1)
            or next;
        $ENV{TEST_NGINX_PORT} = $port;
        last;
    }
    $ENV{TEST_NGINX_PORT} //= 1984;
}

my @perl5lib = grep { length && $_ ne "$ROOT/t/harness" && $_ ne 't/harness' }
               split /:/, $ENV{PERL5LIB} // '';
my $base_lib = join ':', "$ROOT/t/lib", @perl5lib;
my $nginx_lib = $base_lib;
if (grep { $kind{$_} eq 'nginx' } @files) {
    # Decide once: is the real Test::Nginx::Socket installed?  `require`,
    # not -M: importing the real module arms Test::Base's END (run_compare
    # on an empty spec dies), and NO_CLEAN keeps its END from stopping an
    # nginx found in t/servroot.
    local $ENV{PERL5LIB} = $base_lib;
    local $ENV{TEST_NGINX_NO_CLEAN} = 1;
    open my $saved, '>&', \*STDERR or die "dup: $!";
    open STDERR, '>', '/dev/null';
    my $rc = system($^X, '-e', 'require Test::Nginx::Socket');
    open STDERR, '>&', $saved;
    if ($rc == 0) {
        print "# nginx tests: using the installed Test::Nginx::Socket\n";
    } else {
        print "# nginx tests: real Test::Nginx::Socket not installed; using t/harness\n";
        $nginx_lib = "$ROOT/t/harness:$base_lib";
    }
    print "# nginx tests: TEST_NGINX_BINARY=", $ENV{TEST_NGINX_BINARY} // '(nginx in PATH)',
          " TEST_NGINX_PORT=$ENV{TEST_NGINX_PORT}",
          " TEST_NGINX_LOAD_MODULES=", $ENV{TEST_NGINX_LOAD_MODULES} // '(none)', "\n";
}

if (defined $san_dir) {
    require File::Path;
    File::Path::make_path($san_dir);
    $san_dir = abs_path($san_dir);
    File::Path::remove_tree("$san_dir/counted");
    unlink grep { -f } glob("$san_dir/*");
    $ENV{FARM_SANITIZER_DIR} = $san_dir;
    print "# sanitizer reports: $san_dir\n";
}

if (!@files) {
    print "# no tests found\n";
    print "0 passed, 0 failed\n";
    exit 0;
}

# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------

my %log;    # file => [ TAP lines that explain failures ]

my $harness = TAP::Harness->new({
    verbosity => $verbose ? 1 : 0,
    merge     => 1,    # diagnostics (stderr) stay in order with the TAP
    timer     => 1,
    color     => -t STDOUT ? 1 : 0,
    exec      => sub {
        my ($h, $file) = @_;
        return [ 'env', "FARM_TEST_FILE=$file",
                 $file =~ m{^/} ? $file : "./$file" ] if $kind{$file} eq "unit";
        my $lib = $kind{$file} eq 'nginx' ? $nginx_lib : $base_lib;
        return [ 'env', "FARM_TEST_FILE=$file", "PERL5LIB=$lib", $^X, $file ];
    },
});

$harness->callback(parser_args => sub {
    my ($args, $job) = @_;    # $job: [filename, description]
    my $file = $job->[0];
    my $lines = $log{$file} = [];
    $args->{callbacks} = {
        ALL => sub {
            my $r = shift;
            return if $r->is_test && $r->is_ok;
            return if $r->is_plan;
            my $line = $r->as_string;
            push @$lines, $line if $line =~ /\S/;
        },
    };
});

# sanitizer reports: file => [ [report name, text, error.log context] ... ]
my %reports;

sub claim_reports {
    my ($file) = @_;
    return unless defined $san_dir && opendir(my $dh, $san_dir);
    my @new = sort grep { -f "$san_dir/$_" && !/\.error\.log$/ } readdir $dh;
    closedir $dh;
    return unless @new;
    mkdir "$san_dir/counted";
    for my $name (@new) {
        my @claim = ($name);
        for my $f ($name, "$name.error.log") {
            my $text = '';
            if (open my $fh, '<', "$san_dir/$f") {
                local $/;
                $text = <$fh> // '';
                close $fh;
                rename "$san_dir/$f", "$san_dir/counted/$f";
            }
            push @claim, $text;
        }
        push @{ $reports{$file} }, \@claim;
        print "# $file: sanitizer report $name\n";
    }
}

$harness->callback(after_test => sub {
    my ($job) = @_;
    claim_reports($job->[0]);
});

my $agg = $harness->runtests(@files);

# Reports of processes that ended after the last test, or that wrote
# before the first one.
claim_reports('(none: found after the last test)');

# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

my ($passed, $failed) = (0, 0);
my @bad;
for my $file (@files, grep { !exists $kind{$_} } sort keys %reports) {
    my ($p) = exists $kind{$file} ? $agg->parsers($file) : ();
    my $nrep = scalar @{ $reports{$file} || [] };
    my ($fails, $extra) = (0, 0);
    if ($p) {
        $fails = scalar $p->failed;
        my $missing = ($p->tests_planned // $p->tests_run) - $p->tests_run;
        $missing = 0 if $missing < 0 || $p->skip_all;
        my $problem = $missing || $p->parse_errors || (!$fails && ($p->exit || $p->wait));
        $extra = $problem ? ($missing > 0 ? $missing : $fails ? 0 : 1) : 0;
        $passed += scalar $p->passed;
    } elsif (!$nrep) {
        next;
    }
    $failed += $fails + $extra + $nrep;
    push @bad, [$file, $p, $fails + $extra + $nrep] if $fails + $extra + $nrep;
}

if (@bad) {
    print "\n", '=' x 72, "\nFAILURES\n";
    for my $b (@bad) {
        my ($file, $p, $n) = @$b;
        my @why;
        my @rep = @{ $reports{$file} || [] };
        if ($p) {
            push @why, scalar($p->failed) . " failed" if $p->failed;
            push @why, "planned " . $p->tests_planned . ", ran " . $p->tests_run
                if defined $p->tests_planned && $p->tests_planned != $p->tests_run;
            push @why, "exit status " . $p->exit if $p->exit;
            push @why, "killed by signal " . ($p->wait & 127) if $p->wait & 127;
            push @why, $p->parse_errors if $p->parse_errors;
        }
        push @why, scalar(@rep) . " sanitizer report" . (@rep > 1 ? 's' : '') if @rep;
        print "\n", '-' x 72, "\n$file: ", join('; ', @why), "\n";
        my @lines = @{ $log{$file} || [] };
        if (@lines > 400) {
            print "... (", @lines - 400, " earlier lines omitted)\n";
            @lines = @lines[-400 .. -1];
        }
        print "$_\n" for @lines;
        for my $r (@rep) {
            my ($name, $text, $context) = @$r;
            # ASan's legend of shadow bytes says the same every time
            $text =~ s/^Shadow byte legend.*?(?=^==\d+==|\z)//ms;
            print "\n=== sanitizer report $san_dir/counted/$name:\n";
            print_capped($text, 120);
            if (length $context) {
                print "\n=== its context ($san_dir/counted/$name.error.log):\n";
                print_capped($context, 120);
            }
        }
    }
    print '=' x 72, "\n";
}

print "$passed passed, $failed failed\n";
exit($failed ? 1 : 0);

# The first $max lines of $text (a report's stack comes first).
sub print_capped {
    my ($text, $max) = @_;
    my @lines = split /^/, $text;
    my $more = @lines > $max ? @lines - $max : 0;
    splice @lines, $max if $more;
    print @lines;
    print "\n" if @lines && $lines[-1] !~ /\n$/;
    print "... ($more more lines)\n" if $more;
}
