package Test::Nginx::Socket::Sandbox;

# Code taken from test blocks ("--- request eval", "--- init", ...) is compiled
# here, at the top of the file, so that it cannot see any of the file-scoped
# lexical variables declared further down.
sub run_code {
    my ($package, $code, $label) = @_;
    # The real Test::Nginx runs this code with strict and warnings enabled.
    return eval "package $package; use strict; use warnings;\n#line 1 \"$label\"\n$code";
}

package Test::Nginx::Util;

# ---------------------------------------------------------------------------
# Test::Nginx::Util -- knobs, paths and helpers shared by the harness.
#
# This file is the ngx_farm project's own, compact implementation of the part
# of CPAN's Test::Nginx::Socket that our t/*.t files use.  It is only put on
# @INC when the real module is not installed (see tests/run.pl), so every
# behaviour below mirrors the real module: same block format, same section
# names, same generated nginx.conf layout, same assertion names.  Global
# variables keep the names the real Test::Nginx::Util uses, so tests may read
# e.g. $Test::Nginx::Util::ServRoot or $Test::Nginx::Util::ErrLogFile.
# ---------------------------------------------------------------------------

use strict;
use warnings;

use Exporter ();
use File::Spec ();
use Time::HiRes qw(sleep time);    # "--- init" code runs in this package
use POSIX qw(WNOHANG);
use Carp qw(croak);

our (@ISA, @EXPORT);

sub find_nginx {
    for my $dir (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/local/sbin',
                 '/usr/local/nginx/sbin')
    {
        return "$dir/nginx" if $dir ne '' && -f "$dir/nginx" && -x _;
    }
    return 'nginx';
}

# Configuration knobs (defaults and environment variables as in the real one).
our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || find_nginx();
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled        = 'on';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $RepeatEach           = 1;
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation       = 0;
our $NoLongString;
our $UseHup               = $ENV{TEST_NGINX_USE_HUP};
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $NoNginxManager       = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $ConfigPreamble       = '';
our $RandPorts            = {};
our (@EnvToNginx, @CleanupHandlers, @TestCleanupHandlers, @BlockPreprocessors);
our ($NginxVersion, $NginxRawVersion, $ErrLogFilePos, $PrevConfig, $PrevBlock);

# Server root layout.
our $ServRoot = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ServRoot =~ s{/+$}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $CacheDir   = "$ServRoot/cache";
our $StderrFile = "$LogDir/nginx.stderr";    # ours: nginx's stdout+stderr

# Set at compile time: Test::Nginx::Socket imports these while being compiled.
BEGIN {
@ISA = ('Exporter');
@EXPORT = qw(
    expand_env_in_text env_to_nginx is_str check_accum_error_log is_running
    $NoLongString no_long_string $ServerAddr server_addr $ServerName server_name
    parse_time sleep_time verbose bail_out add_cleanup_handler
    add_test_cleanup_handler access_log_data error_log_data trim show_all_chars
    parse_headers get_pid_from_pidfile get_nginx_version $ServerPortForClient
    $ServerPort $NginxVersion $PidFile $ServRoot $ConfFile $RepeatEach
    add_block_preprocessor timeout worker_connections workers master_on
    master_off config_preamble repeat_each master_process_enabled log_level
    no_shuffle no_root_location html_dir server_root server_port
    server_port_for_client no_nginx_manager use_hup
);
}

# --- simple setters/getters (same names and prototypes as the real ones) ---

sub timeout (@)            { $Timeout = shift if @_; $Timeout }
sub no_shuffle ()          { $NoShuffle = 1 }
sub no_nginx_manager ()    { $NoNginxManager = 1 }
sub use_hup ()             { $UseHup = 1 }
sub no_long_string ()      { $NoLongString = 1 }
sub no_root_location ()    { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub master_on ()           { $MasterProcessEnabled = 'on' }
sub master_off ()          { $MasterProcessEnabled = 'off' }
sub config_preamble ($)    { $ConfigPreamble = shift }
sub sleep_time             { $TestNginxSleep }
sub verbose                { $Verbose }
sub html_dir ()            { $HtmlDir }
sub server_root ()         { $ServRoot }
sub server_addr (@)        { @_ ? ($ServerAddr = shift) : $ServerAddr }
sub server_name (@)        { @_ ? ($ServerName = shift) : $ServerName }
sub server_port (@)        { @_ ? ($ServerPort = shift) : $ServerPort }
sub server_port_for_client (@) { @_ ? ($ServerPortForClient = shift) : $ServerPortForClient }
sub worker_connections (@) { @_ ? ($WorkerConnections = shift) : $WorkerConnections }
sub workers (@)            { @_ ? ($Workers = shift) : $Workers }
sub log_level (@)          { @_ ? ($LogLevel = shift) : $LogLevel }
sub repeat_each (@)        { $RepeatEach = shift if @_; $RepeatEach }

sub master_process_enabled (@) {
    return $MasterProcessEnabled unless @_;
    $MasterProcessEnabled = shift() ? 'on' : 'off';
}

# Preprocessors and cleanup handlers are pushed to the front, like the real one.
sub add_block_preprocessor (&)   { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)      { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc);
}

# "100ms" -> 0.1, "2s" -> 2, "3" -> 3
sub parse_time ($) {
    my $t = shift;
    return $t unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    return $s;
}

# "--- response_headers" parser: "Key: value" lines, "!Key" = must be absent.
sub parse_headers ($) {
    my $text = shift;
    my %h;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $h{$line} = undef;
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            $h{$k} = $v // '';
        }
    }
    return \%h;
}

# Replace $TEST_NGINX_* by the environment value; $TEST_NGINX_RAND_PORT_<N>
# by a free port chosen once per block.
sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return $text unless defined $text && !ref $text;
    $rand_ports //= $RandPorts;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $rand_ports->{$var} //= Test::Nginx::Socket::pick_free_port($rand_ports);
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $ENV{$var};
        }
    }ge;
    return $text;
}

sub bail_out (@) {
    Test::Nginx::Socket::cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

sub get_pid_from_pidfile ($) {
    my ($name) = @_;
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> };
    close $in;
    return undef unless defined $pid && $pid =~ /^\s*(\d+)\s*$/;
    return $1;
}

# True while $pid is a live (non-zombie) process.  nginx daemonizes, so its
# master is normally not our child; if it is (we are a child subreaper), reap it.
sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid && kill(0, $pid);
    return 0 if waitpid($pid, WNOHANG) == $pid;
    if (open my $st, '<', "/proc/$pid/stat") {
        my $line = <$st> // '';
        return 0 if $line =~ /\)\s+[ZX]\s/;
    }
    return 1;
}

# Lines of error.log written since the last call (whole file with
# check_accum_error_log).  Like the real one, give nginx a moment to finish
# its log phase first.
sub error_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

sub get_nginx_version () {
    return $NginxVersion if defined $NginxVersion;
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to get the version of the nginx binary $NginxBinary: "
                 . ($out // $!));
    }
    if ($out =~ m{nginx version: \S+?/(\d+)\.(\d+)\.(\d+)}) {
        $NginxRawVersion = "$1.$2.$3";
        $NginxVersion = sprintf "%d.%03d%03d", $1, $2, $3;
        return $NginxVersion;
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

package Test::Nginx::Socket::Block;

# A test block: every section is stored as a list of values (a filter may
# return several); the accessor returns the first value in scalar context
# and the whole list in list context.  Unknown sections read as undef.

use strict;
use warnings;
use Carp ();

our $AUTOLOAD;

sub new { bless {}, shift }

sub set_value {
    my ($self, $key, @values) = @_;
    $self->{$key} = [@values];
    return;
}

sub AUTOLOAD {
    my $self = shift;
    (my $key = $AUTOLOAD) =~ s/.*:://;
    return if $key eq 'DESTROY';
    Carp::croak("Not allowed to set values for '$key'") if @_;
    my $values = $self->{$key} or return;
    return wantarray ? @$values : $values->[0];
}

package Test::Nginx::Socket::Response;

# Minimal HTTP response object (the subset of HTTP::Response we need).

use strict;
use warnings;

sub new {
    my ($class, %args) = @_;
    return bless { code => undef, status_line => '', headers => [],
                   content => '', %args }, $class;
}

sub code { my $self = shift; $self->{code} = shift if @_; $self->{code} }

sub content { my $self = shift; $self->{content} = shift if @_; $self->{content} }

# Case-insensitive; repeated headers are joined with ", " in scalar context.
sub header {
    my ($self, $name) = @_;
    my @values = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $self->{headers} };
    return @values if wantarray;
    return @values ? join(', ', @values) : undef;
}

package Test::Nginx::Socket;

use strict;
use warnings;

use Test::More ();
use Carp qw(croak carp cluck confess);
use Time::HiRes qw(sleep time);
use POSIX qw(WNOHANG);
use IO::Socket::INET ();
use IO::Select ();
use File::Path qw(make_path remove_tree);
use Errno qw(EAGAIN EWOULDBLOCK EINTR EINPROGRESS);
use MIME::Base64 ();

# The harness state lives in Test::Nginx::Util (where the real module keeps
# it); alias the whole globs so that `local $LogLevel` here is seen there too.
our @SHARED_VARS;
BEGIN {
    @SHARED_VARS = qw(
        LogLevel Timeout ServRoot LogDir ErrLogFile AccLogFile HtmlDir ConfDir
        ConfFile PidFile CacheDir StderrFile Workers WorkerConnections
        MasterProcessEnabled DaemonEnabled ServerPort ServerPortForClient
        ServerAddr ServerName RepeatEach NoShuffle NoRootLocation UseHup
        LoadModules NoNginxManager Verbose TestNginxSleep ConfigPreamble
        NginxBinary EnvToNginx CleanupHandlers TestCleanupHandlers
        BlockPreprocessors
    );
    no strict 'refs';
    *{"Test::Nginx::Socket::$_"} = *{"Test::Nginx::Util::$_"} for @SHARED_VARS;
    Test::Nginx::Util->import;
}
our ($LogLevel, $Timeout, $ServRoot, $LogDir, $ErrLogFile, $AccLogFile, $HtmlDir,
     $ConfDir, $ConfFile, $PidFile, $CacheDir, $StderrFile, $Workers,
     $WorkerConnections, $MasterProcessEnabled, $DaemonEnabled, $ServerPort,
     $ServerPortForClient, $ServerAddr, $ServerName, $RepeatEach, $NoShuffle,
     $NoRootLocation, $UseHup, $LoadModules, $NoNginxManager, $Verbose,
     $TestNginxSleep, $ConfigPreamble, $NginxBinary, @EnvToNginx,
     @CleanupHandlers, @TestCleanupHandlers, @BlockPreprocessors);

our $VERSION = '0.01-farm';

# What the real module exports: its own functions plus, through Test::Base,
# a fixed subset of Test::More.  NB: note(), done_testing(), explain(),
# subtest() and BAIL_OUT() are *not* exported by the real module either; call
# them fully qualified (Test::More::done_testing()) so tests run under both.
our @TEST_MORE = qw(ok isnt like unlike is_deeply cmp_ok skip todo_skip pass fail
                    eq_array eq_hash eq_set plan can_ok isa_ok diag use_ok is);
our @EXPORT = (@TEST_MORE, qw(
    $TODO no_diff blocks next_block first_block filters run
    croak carp cluck confess
    env_to_nginx is_str run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers master_on
    master_off log_level no_shuffle no_root_location use_hup server_name
    server_addr server_root html_dir server_port server_port_for_client timeout
    no_nginx_manager check_accum_error_log add_block_preprocessor bail_out
    add_test_cleanup_handler add_cleanup_handler add_response_body_check
));

our @ResponseBodyChecks;
our $MainPid = $$;
our $FirstTime = 1;
our $NginxStarted;          # we (re)started nginx at least once
our $BlockLogStart = 0;     # error.log offset where the current block began
our $ConfigVersion = '';    # HUP mode: value served by /ver

# ---------------------------------------------------------------------------
# import: `use Test::Nginx::Socket;`, `... 'no_plan';`, `... tests => N;`,
# `... skip_all => $why;` and `... -Base;` (to write a subclass).
# ---------------------------------------------------------------------------
sub import {
    my ($class, @args) = @_;
    my $caller = caller;
    my $base = grep { /^-base$/i } @args;
    @args = grep { !/^-base$/i } @args;

    # Test::Base turns on strict and warnings in the test file; so do we, so
    # that a test which is sloppy fails here as it would under the real one.
    strict->import;
    warnings->import;

    no strict 'refs';
    push @{"${caller}::ISA"}, $class if $base && !$caller->isa($class);
    for my $sym (@EXPORT) {
        if ($sym eq '$TODO') {
            *{"${caller}::TODO"} = \$Test::More::TODO;
        } elsif (grep { $_ eq $sym } @TEST_MORE) {
            *{"${caller}::$sym"} = \&{"Test::More::$sym"};
        } else {
            *{"${caller}::$sym"} = \&{"Test::Nginx::Socket::$sym"};
        }
    }
    Test::More::plan(@args) if @args && !$base;
}

# Functions that live in Test::Nginx::Util but are exported from here too.
{
    no strict 'refs';
    for my $f (qw(env_to_nginx is_str repeat_each config_preamble
                  worker_connections master_process_enabled no_long_string
                  workers master_on master_off log_level no_shuffle
                  no_root_location use_hup server_name server_addr server_root
                  html_dir server_port server_port_for_client timeout
                  no_nginx_manager check_accum_error_log add_block_preprocessor
                  bail_out add_test_cleanup_handler add_cleanup_handler))
    {
        *{"Test::Nginx::Socket::$f"} = \&{"Test::Nginx::Util::$f"}
            unless defined &{"Test::Nginx::Socket::$f"};
    }
}

sub add_response_body_check ($) { push @ResponseBodyChecks, shift }
sub no_diff { $ENV{TEST_SHOW_NO_DIFFS} = 1 }

# ===========================================================================
# Test::Base block format
#
#   === TEST 1: name
#   optional description
#   --- section [filters]          multi-line value follows
#   --- section [filters]: value   inline value
#
# Default filters for every section: norm (CRLF -> LF) and trim (drop leading
# blank lines and trailing whitespace after the last newline).  Meta sections:
# ONLY (run only this block), SKIP (drop it), LAST (drop all after it).
# ===========================================================================

our @DefaultFilters = qw(norm trim);
our %SectionFilters;        # filters({ section => [...] })
our $Blocks;                # parsed blocks (array ref), filtered once
our $FilterArg;             # argument of the filter running ("join=," -> ",")
our @NextList;

my %RESERVED = map { $_ => 1 } qw(new set_value AUTOLOAD DESTROY can isa VERSION);

sub filters {
    if (ref $_[0] eq 'HASH') {
        my $map = shift;
        $SectionFilters{$_} = ref $map->{$_} ? $map->{$_} : [$map->{$_}] for keys %$map;
    } else {
        push @DefaultFilters, @_;
    }
    return;
}

sub _read_spec {
    no strict 'refs';
    my $fh = \*{'main::DATA'};
    local $/;
    my $spec = <$fh>;
    croak "No test blocks found: the test file needs a __DATA__ section"
        unless defined $spec;
    return $spec;
}

sub _parse_block {
    my ($hunk, $seq) = @_;
    $hunk =~ s/\A===[ \t]*(.*?)[ \t]*(?:\n|\z)// or die "bad block: $hunk";
    my $name = $1;
    my $block = Test::Nginx::Socket::Block->new;

    # Split into (description, name1, filters1, body1, name2, ...).
    $hunk .= "\n" unless $hunk =~ /\n\z/;
    my @parts = split /^---[ \t]+\(?(\w+)\)?[ \t]*(.*?)[ \t]*\n/m, $hunk;
    my $description = shift @parts;
    $description = $name unless defined $description && $description =~ /\S/;
    $description =~ s/\s+\z//;

    my (@order, %filters);
    while (@parts) {
        my ($section, $spec, $value) = splice @parts, 0, 3;
        croak "'$section' is a reserved name. Use something else.\n"
            if $RESERVED{$section} || $section =~ /^_/;
        $value = '' unless defined $value;
        $spec = '' unless defined $spec;
        if ($spec =~ /:(?:\s|\z)/) {    # inline value: "--- name filters: value"
            croak "Extra lines not allowed in '$section' section"
                if $value =~ /\S/;
            ($spec, $value) = split /\s*:(?:\s+|\z)/, $spec, 2;
            $value = '' unless defined $value;
            $value =~ s/^\s+|\s+$//g;
        }
        $filters{$section} = $spec;
        push @order, $section;
        $block->set_value($section, $value);
    }
    $block->set_value(name => $name);
    $block->set_value(description => $description);
    $block->{_order} = \@order;
    $block->{_filters} = \%filters;
    $block->{_seq} = $seq;
    return $block;
}

sub _all_blocks {
    return $Blocks if $Blocks;
    my $spec = _read_spec();
    my @hunks = $spec =~ /^(===.*?)(?=^===|\z)/msg;
    my (@blocks, $seq);
    for my $hunk (@hunks) {
        my $block = _parse_block($hunk, ++$seq);
        if (exists $block->{ONLY}) {
            Test::More::diag("I found ONLY: maybe you're debugging?");
            @blocks = ($block);
            last;
        }
        next if exists $block->{SKIP};
        push @blocks, $block;
        last if exists $block->{LAST};
    }
    $Blocks = \@blocks;
    _run_filters($_) for @blocks;
    return $Blocks;
}

# blocks() -> list of blocks (count in scalar context); blocks('sec') -> only
# the blocks having that section.
sub blocks {
    my ($section) = @_;
    my @list = @{ _all_blocks() };
    @list = grep { exists $_->{$section} } @list if defined $section;
    return wantarray ? @list : scalar @list;
}

sub next_block {
    @NextList = (@{ _all_blocks() }, undef) unless @NextList;
    return shift @NextList;
}

sub first_block { @NextList = (); next_block() }

sub run (&;$) {
    my $cb = shift;
    $cb->($_) for @{ _all_blocks() };
}

# Built-in filters.  Each takes and returns a list of values.
my %BUILTIN_FILTERS;
%BUILTIN_FILTERS = (
    norm  => sub { map { my $s = $_ // ''; $s =~ s/\015\012/\n/g; $s =~ s/\r/\n/g; $s } @_ },
    trim  => sub {
        map { my $s = $_; if (defined $s) { $s =~ s/\A([ \t]*\n)+//; $s =~ s/(?<=\n)\s*\z//; } $s } @_
    },
    chomp   => sub { map { my $s = $_; chomp $s if defined $s; $s } @_ },
    chop    => sub { map { my $s = $_; chop $s if defined $s; $s } @_ },
    unchomp => sub { map { "$_\n" } @_ },
    eval    => sub {
        croak "Input to the 'eval' filter must be a scalar, not a list" unless @_ == 1;
        my @r = Test::Nginx::Socket::Sandbox::run_code(
            'Test::Nginx::Socket::Filter', $_[0], 'eval filter');
        if ($@) {    # like Test::Base, the error text becomes the value
            warn "eval filter failed: $@";
            return $@;
        }
        return @r;
    },
    lines   => sub { my $t = shift; return () unless length $t; $t =~ /^(.*\n?)/gm },
    array   => sub { [@_] },
    hash    => sub { +{@_} },
    join    => sub { join($FilterArg // '', @_) },
    split   => sub { split(defined $FilterArg && length $FilterArg ? qr/\Q$FilterArg\E/ : qr/\s+/, shift) },
    reverse => sub { reverse @_ },
    sort    => sub { sort @_ },
    head    => sub { my $n = $FilterArg || 1; @_[0 .. ($n > @_ ? $#_ : $n - 1)] },
    tail    => sub { my $n = $FilterArg || 1; $n = @_ if $n > @_; @_[@_ - $n .. $#_] },
    append  => sub { map { $_ . ($FilterArg // '') } @_ },
    prepend => sub { map { ($FilterArg // '') . $_ } @_ },
    escape  => sub { my $t = shift; $t =~ s/(\\.)/eval qq{"$1"}/ge; $t },
    regexp  => sub {
        my $t = shift;
        my $flags = $FilterArg;
        if ($t =~ /\n.*?\n/s) { $flags //= 'xism' } else { chomp $t }
        $flags //= '';
        my $re = eval "qr{\$t}$flags";
        die $@ if $@;
        return $re;
    },
    base64_encode => sub { MIME::Base64::encode_base64(shift) },
    base64_decode => sub { MIME::Base64::decode_base64(shift) },
);

sub _filter_list {
    my ($block, $section) = @_;
    my @filters;
    my @append;
    my $spec = $block->{_filters}{$section} // '';
    for my $f (@DefaultFilters, @{ $SectionFilters{$section} || [] },
               split(/\s+/, $spec))
    {
        next unless length $f;
        if ($f =~ s/^-//) {
            @filters = grep { $_ ne $f } @filters;
        } elsif ($f =~ s/^\+//) {
            push @append, $f;
        } else {
            push @filters, $f;
        }
    }
    return (@filters, @append);
}

sub _run_filters {
    my ($block) = @_;
    return if $block->{_filtered}++;
    for my $section (@{ $block->{_order} }) {
        my @value = @{ $block->{$section} };
        for my $filter (_filter_list($block, $section)) {
            local $FilterArg = $filter =~ s/=(.*)$// ? $1 : undef;
            no strict 'refs';
            if (defined &{"main::$filter"}) {
                # A filter function defined by the test file itself (Test::Base
                # convention: it may munge $_ instead of returning a value).
                local $_ = join '', @value;
                my @out = &{"main::$filter"}(@value);
                @value = (!@out || (@out == 1 && defined $out[0] && $out[0] =~ /\A(\d+|)\z/))
                       ? ($_) : @out;
            } elsif (my $code = $BUILTIN_FILTERS{$filter}) {
                @value = $code->(@value);
            } else {
                die "Can't find a function or method for '$filter' filter\n";
            }
            $block->{$section} = [@value];
        }
    }
}

# ===========================================================================
# Running the blocks
# ===========================================================================

sub run_tests () {
    get_nginx_version() unless $NoNginxManager;
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = blocks();
    # The real module shuffles blocks unless told otherwise; we keep file
    # order (reproducible) unless TEST_NGINX_SHUFFLE=1 asks for shuffling to
    # flush out blocks that depend on a previous block.
    if ($ENV{TEST_NGINX_SHUFFLE} && !$NoShuffle) {
        require List::Util;
        @blocks = List::Util::shuffle(@blocks);
    }

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
        $Test::Nginx::Util::PrevBlock = $block;
    }

    cleanup();
}

sub _failures_so_far {
    return scalar grep { !$_ } Test::More->builder->summary;
}

# Run one block: (re)start nginx as needed, run "init", send the requests
# (repeat_each times) and check the responses and logs.
sub run_test ($) {
    my ($block) = @_;
    return if defined $block->SKIP;

    my $name = $block->name;
    my $rand_ports = {};
    $Test::Nginx::Util::RandPorts = $rand_ports;
    my $failures_before = _failures_so_far();

    local $LogLevel = $block->log_level || $LogLevel;

    my ($should_skip, $tests_to_skip, $skip_reason) = _skip_spec($block);
    my ($should_todo, $todo_reason);
    if (defined(my $todo = $block->todo)) {
        $todo =~ /^\s*(\d+)\s*:\s*(.*)/s or bail_out("$name - Invalid --- todo spec: $todo");
        ($should_todo, $tests_to_skip, $todo_reason) = (1, $1, $2);
    }

    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    if (!$NoNginxManager && !$should_skip) {
        if (!defined $config) {
            # The real module reuses the previous block's server as is.
            bail_out("$name - No '--- config' section specified and could not "
                     . "get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?")
                unless defined $Test::Nginx::Util::PrevConfig;
            $BlockLogStart = -s $ErrLogFile || 0;
        } else {
            $Test::Nginx::Util::PrevConfig = $config;
            if (defined $block->must_die) {
                _run_must_die($block, $config, $rand_ports);
                _diag_block_failure($block, $failures_before);
                return;
            }
            if (!_start_or_reload($block, $config, $rand_ports)) {
                _diag_block_failure($block, $failures_before);
                return;
            }
        }
    }

    if (!$should_skip && defined(my $init = $block->init)) {
        Test::Nginx::Socket::Sandbox::run_code('Test::Nginx::Util', $init, "$name init");
        bail_out("$name - init failed: $@") if $@;
    }

    $Test::Nginx::Util::ErrLogFilePos = $BlockLogStart;
    for my $i (1 .. $RepeatEach) {
        _write_user_files($block, $rand_ports) if $i > 1 && !$should_skip;
        if ($should_skip && defined $tests_to_skip) {
            SKIP: { Test::More::skip("$name - $skip_reason", $tests_to_skip) }
        } elsif ($should_todo) {
            TODO: { Test::More::todo_skip("$name - $todo_reason", $tests_to_skip) }
        } elsif (!$should_skip) {
            run_test_helper($block, $i - 1);
        }
    }

    _diag_block_failure($block, $failures_before);
}

# --- skip_eval / skip_nginx ----------------------------------------------
sub _skip_spec {
    my ($block) = @_;
    my $name = $block->name;
    if (defined(my $spec = $block->skip_eval)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- skip_eval spec: $spec");
        my ($n, $code) = ($1, $2);
        my $skip = Test::Nginx::Socket::Sandbox::run_code('Test::Nginx::Util', $code,
                                                          "$name skip_eval");
        bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
        return ($skip, $n, 'skip_eval');
    }
    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, $reason) = ($1, $2, $6);
        my $want = sprintf "%d.%03d%03d", $3, $4, $5;
        my $have = get_nginx_version();
        my $skip = $op eq '<'  ? $have <  $want : $op eq '<=' ? $have <= $want
                 : $op eq '>'  ? $have >  $want :               $have >= $want;
        return ($skip, $n, $reason || "nginx version $op $3.$4.$5");
    }
    return (0, undef, 'various reasons');
}

# ---------------------------------------------------------------------------
# nginx lifecycle
# ---------------------------------------------------------------------------

# Become a "child subreaper" (Linux prctl PR_SET_CHILD_SUBREAPER) so the
# daemonized nginx master is re-parented to us: we can then reap it and wait
# for exactly that pid.  Best effort: without it we poll /proc instead.
BEGIN {
    eval {
        my $nr = { x86_64 => 157, aarch64 => 167 }->{ (POSIX::uname())[4] };
        syscall($nr, 36, 1, 0, 0, 0) if $nr && $^O eq 'linux';
    };
}

# Children of $pid (nginx workers), from /proc.
sub _child_pids {
    my ($ppid) = @_;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $ppid;
    }
    return @kids;
}

sub _looks_like_nginx {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/cmdline" or return 1;   # cannot tell: trust
    my $cmd = do { local $/; <$fh> } // '';
    return $cmd =~ /nginx/;
}

sub _wait_gone {
    my ($deadline, @pids) = @_;
    while (time < $deadline) {
        @pids = grep { is_running($_) } @pids;
        return 1 unless @pids;
        sleep 0.02;
    }
    return !grep { is_running($_) } @pids;
}

# Stop the nginx whose pid is in the pid file: QUIT (graceful), then TERM,
# then KILL (master and its workers), always by pid and waiting for it.
sub stop_nginx {
    _stop_nginx();
    _keep_sanitizer_context();
}

sub _stop_nginx {
    my $pid = get_pid_from_pidfile('stop');
    if (!$pid || !is_running($pid)) {
        unlink $PidFile;
        return;
    }
    if (!_looks_like_nginx($pid)) {
        warn "WARNING: pid $pid from $PidFile is not nginx; not touching it\n";
        unlink $PidFile;
        return;
    }
    my @workers = _child_pids($pid);
    kill($ENV{TEST_NGINX_FAST_SHUTDOWN} ? 'TERM' : 'QUIT', $pid);
    return if _wait_gone(time + $Timeout, $pid, @workers);

    warn "WARNING: nginx $pid did not exit after QUIT; sending TERM\n";
    kill 'TERM', $pid;
    return if _wait_gone(time + 1, $pid, @workers);

    warn "WARNING: killing nginx $pid and its workers with SIGKILL\n";
    @workers = (@workers, _child_pids($pid));
    kill 'KILL', grep { is_running($_) } $pid, @workers;
    _wait_gone(time + 2, $pid, @workers);
    unlink $PidFile;
}

# Ours (make test-asan): nginx runs through scripts/nginx-asan, which writes
# each sanitizer report as a file in $FARM_SANITIZER_DIR, and tests/run.pl
# prints and counts them.  Once nginx is gone and before the next block
# wipes logs/, keep the end of error.log beside each new report
# (<report>.error.log), so that the report can be read with what nginx was
# doing.  tests/run.pl moves the reports it has counted out of the
# directory, so a new one belongs to this file.
our $NginxBlock = '';       # the block nginx was last started for
my %SanitizerSeen;

sub _keep_sanitizer_context {
    my $dir = $ENV{FARM_SANITIZER_DIR};
    return unless $dir && opendir(my $dh, $dir);
    my @new = grep { -f "$dir/$_" && !/\.error\.log$/ && !$SanitizerSeen{$_}++ }
              readdir $dh;
    closedir $dh;
    return unless @new;
    my @lines = _slurp_lines($ErrLogFile, 0);
    for my $report (@new) {
        next if -e "$dir/$report.error.log";
        open my $fh, '>', "$dir/$report.error.log" or next;
        print $fh "$0: nginx started for \"$NginxBlock\"; $ErrLogFile:\n",
                  sanitizer_log_context($report, @lines);
        close $fh;
    }
}

# What error.log says about the process that wrote $report (its name ends
# with the pid): its own last 60 lines and the lines that name it (the
# master's "worker process N exited"); the last 40 lines of the log when
# the process logged nothing.
sub sanitizer_log_context {
    my ($report, @lines) = @_;
    my ($pid) = $report =~ /\.(\d+)$/;
    my @own = defined $pid ? grep { /\b$pid#\d+/ } @lines : ();
    if (!@own) {
        my @tail = @lines > 40 ? @lines[-40 .. -1] : @lines;
        return ("-- the last " . @tail . " lines:\n", @tail);
    }
    @own = @own[-60 .. -1] if @own > 60;
    return ("-- the last " . @own . " lines of process $pid:\n", @own,
            "-- lines about process $pid:\n",
            grep { /\bprocess $pid\b/ } @lines);
}

# Fresh server root: conf/, logs/, html/ (with index.html) and temp dirs.
sub _setup_server_root {
    my ($hup_keep_pid) = @_;
    if (-d $ServRoot) {
        if ($hup_keep_pid) {
            # HUP mode: nginx keeps running; wipe everything but the pid file.
            require File::Find;
            File::Find::find({ no_chdir => 1, bydepth => 1, wanted => sub {
                unlink $_ if !-d $_ && $_ ne $PidFile;
            } }, $ServRoot);
        } else {
            remove_tree($ConfDir, $LogDir, $HtmlDir, $CacheDir,
                        glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
        }
    }
    make_path($ServRoot, $LogDir, $HtmlDir, $ConfDir,
              map { "$ServRoot/${_}_temp" } qw(client_body proxy fastcgi uwsgi scgi));
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

# "--- user_files": ">>> path [touch-time]" headers followed by the content,
# or (with eval) [[path, content, time], ...].  Relative paths go to html/.
sub _write_user_files {
    my ($block, $rand_ports) = @_;
    my $files = $block->user_files;
    return unless defined $files;
    my $name = $block->name;
    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @list, [$1, '', $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    }
    bail_out("$name - wrong value type for --- user_files") unless ref $files eq 'ARRAY';
    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) unless -d $dir;
        open my $out, '>', $path or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out expand_env_in_text($body // '', $name, $rand_ports);
        close $out;
        if ($date && $date =~ /^(?:(\d\d))?(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d\d))?$/) {
            require Time::Local;    # touch -t [[CC]YY]MMDDhhmm[.ss], in GMT
            my $year = defined $1 ? "$1$2" : ($2 < 69 ? "20$2" : "19$2");
            my $t = Time::Local::timegm($7 // 0, $6, $5, $4, $3 - 1, $year);
            utime $t, $t, $path;
        }
    }
}

sub _temp_path_directives {
    my ($http_config) = @_;
    my $out = '';
    for my $kind (qw(client_body proxy fastcgi uwsgi scgi)) {
        next if $http_config =~ /\b${kind}_temp_path\b/;
        $out .= "    ${kind}_temp_path $ServRoot/${kind}_temp;\n";
    }
    return $out;
}

# Generate conf/nginx.conf with the same layout as the real module.
sub _write_config_file {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;
    my $http_config = expand_env_in_text($block->http_config // '', $name, $rand_ports);
    my $main_config = expand_env_in_text($block->main_config // '', $name, $rand_ports);
    my $post_main_config = expand_env_in_text($block->post_main_config // '', $name, $rand_ports);
    my $err_log_file = expand_env_in_text($block->error_log_file || $ErrLogFile,
                                          $name, $rand_ports);
    my $server_name = $block->server_name // $ServerName;
    $server_name =~ s/\\/\\\\/g;
    $server_name =~ s/'/\\'/g;

    master_on() if $UseHup;    # reloading needs a master process

    my $load_modules = join '', map { "load_module $_;\n" }
                                grep { length } split /\s+/, $LoadModules // '';
    my $env = join '', map { "env $_;\n" }
                       qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS),
                       map { /\s/ ? "'$_'" : $_ } @EnvToNginx;
    my $user = $> == 0 ? "user root;\n" : '';
    my $temp_paths = _temp_path_directives($http_config);
    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    my $ver_server = !$UseHup ? '' : <<"_EOC_";
    server {
        listen          $ServerPort;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_

    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out <<"_EOC_";
# generated by t/harness Test::Nginx::Socket for: $name
${load_modules}worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
$env$user
$main_config

http {
    access_log $AccLogFile;
$temp_paths
    default_type text/plain;
    keepalive_timeout  68;

$http_config
    server {
        listen          $ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
$ver_server}

$post_main_config

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
_EOC_
    close $out;
}

sub _prepare_server_root {
    my ($block, $config, $rand_ports, $hup) = @_;
    _setup_server_root($hup);
    if (defined(my $code = $block->post_setup_server_root)) {
        Test::Nginx::Socket::Sandbox::run_code('Test::Nginx::Util', $code,
                                               $block->name . " post_setup_server_root");
        bail_out($block->name . " - post_setup_server_root failed: $@") if $@;
    }
    _write_user_files($block, $rand_ports);
    _write_config_file($block, $config, $rand_ports);
}

# Run the nginx binary once (it daemonizes); stdout/stderr go to a file.
# Returns the wait status (-1 if it could not be executed).
sub _exec_nginx {
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    # nginx >= 1.19.5: send startup errors to the test's error.log as well
    splice @cmd, 1, 0, '-e', $ErrLogFile if get_nginx_version() >= 1.019005;
    warn "starting: @cmd\n" if $Verbose;
    return -1 unless -x $NginxBinary || `which $NginxBinary 2>/dev/null`;
    my $pid = fork;
    bail_out("fork() failed: $!") unless defined $pid;
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $StderrFile;
        open STDERR, '>>', $StderrFile;
        { no warnings "exec"; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $status = $?;
    return $status == (127 << 8) ? -1 : $status;
}

sub _slurp_lines {
    my ($file, $offset) = @_;
    open my $fh, '<', $file or return ();
    seek $fh, $offset, 0 if $offset;
    my @lines = <$fh>;
    return @lines;
}

# Is something listening on TCP $port?  Read from /proc/net/tcp{,6} rather
# than connecting, so that nginx logs nothing (a probe connection would add
# an [info] line and shift the connection numbers the tests see).
sub _port_listening {
    my ($port) = @_;
    my $hex = sprintf '%04X', $port;
    my $readable = 0;
    for my $file ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $file or next;
        $readable = 1;
        while (<$fh>) {
            return 1 if /^\s*\d+:\s+[0-9A-F]+:$hex\s+[0-9A-F]+:[0-9A-F]+\s+0A\s/;
        }
    }
    return !$readable;    # no /proc: trust the pid file
}

# Wait until the pid file names a live process and the port is listening
# (nginx opens its sockets before it daemonizes and writes the pid file).
sub _wait_ready {
    my $deadline = time + ($Timeout > 5 ? $Timeout : 5);
    while (time < $deadline) {
        my $pid = get_pid_from_pidfile('ready');
        return $pid if $pid && is_running($pid) && _port_listening($ServerPort);
        sleep 0.01;
    }
    return undef;
}

# Start nginx from scratch for this block, or (HUP mode, nginx running) reload
# it with the new configuration.  Returns true when it is ready to serve.
sub _start_or_reload {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;
    my $first_time = $FirstTime;
    $FirstTime = 0;
    $ConfigVersion = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 10 if $UseHup;

    my $pid = get_pid_from_pidfile($name);
    if ($UseHup && !$first_time && $pid && is_running($pid)) {
        _keep_sanitizer_context();
        _prepare_server_root($block, $config, $rand_ports, 1);
        $BlockLogStart = 0;
        $NginxBlock = $name;
        kill 'USR1', $pid;    # reopen the (just removed) log files
        sleep $TestNginxSleep;
        kill 'HUP', $pid;
        sleep $TestNginxSleep * 3;
        return 1 if defined $block->reload_fails;
        return 1 if _wait_config_version($name);
        Test::More::fail("$name - failed to reload configuration (HUP)");
        return 0;
    }

    stop_nginx();
    _prepare_server_root($block, $config, $rand_ports, 0);
    $BlockLogStart = 0;
    $NginxBlock = $name;

    # Retry briefly: the port may still be held by a process going away.
    my $status;
    my $deadline = time + 5;
    while (1) {
        $status = _exec_nginx();
        last if $status == 0 || $status == -1 || time > $deadline;
        last unless grep { /Address already in use/ }
                    _slurp_lines($StderrFile, 0), _slurp_lines($ErrLogFile, 0);
        sleep 0.2;
    }
    $NginxStarted = 1;
    if ($status == -1) {
        bail_out("$name - Cannot find the nginx executable $NginxBinary");
    }
    if ($status != 0) {
        Test::More::fail("$name - nginx failed to start (exit status "
                         . ($status >> 8) . ")");
        return 0;
    }
    return 1 if _wait_ready();
    Test::More::fail("$name - nginx did not become ready on port $ServerPortForClient");
    return 0;
}

# HUP mode: poll "GET /ver" (Host: Test-Nginx) until the new config answers.
sub _wait_config_version {
    my ($name) = @_;
    my $deadline = time + 10;
    my $ok = 0;
    while (time < $deadline) {
        my $raw = _http_exchange(
            "GET /ver HTTP/1.1\r\nHost: Test-Nginx\r\nConnection: close\r\n\r\n", 1);
        my ($res) = parse_response($name, $raw // '', 0);
        if ($res && ($res->code // 0) == 200 && $res->content eq $ConfigVersion) {
            return 1 if ++$ok >= 5;
            next;
        }
        $ok = 0;
        sleep 0.02;
    }
    return 0;
}

# "--- must_die": nginx must refuse to start.  Checks the exit status and
# then error_log / no_error_log against error.log plus nginx's stderr.
sub _run_must_die {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;
    my $must_die = $block->must_die;
    $FirstTime = 0;
    stop_nginx();
    _prepare_server_root($block, $config, $rand_ports, 0);
    $BlockLogStart = 0;
    $NginxBlock = $name;
    $Test::Nginx::Util::ErrLogFilePos = 0;

    for my $i (0 .. $RepeatEach - 1) {
        my $stderr_pos = -s $StderrFile || 0;
        my $status = _exec_nginx();
        $NginxStarted = 1;
        if ($status == -1) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($status & 127) {
            Test::More::fail("$name - nginx core dumped or was killed by a signal");
        } elsif ($must_die =~ /^\s*\d+\s*$/) {
            Test::More::is($must_die, $status >> 8, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        my @log = @{ error_log_data() };
        # stderr lines ("nginx: [emerg] msg") not already present in error.log
        my @stderr = grep {
            my $line = $_;
            (my $msg = $line) =~ s/^nginx: \[\w+\] //;
            chomp $msg;
            !grep { index($_, $msg) >= 0 } @log;
        } _slurp_lines($StderrFile, $stderr_pos);
        check_error_log($block, undef, $i, 0, [@log, @stderr]);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; stopping it\n";
            _wait_ready();
            stop_nginx();
        }
    }
}

# After a block with failed assertions, show what nginx logged during it.
sub _diag_block_failure {
    my ($block, $failures_before) = @_;
    return if _failures_so_far() <= $failures_before;
    my $name = $block->name;
    my @lines = _slurp_lines($ErrLogFile, $BlockLogStart);
    my @important = grep { /\[(?:emerg|alert|crit|error|warn)\]/ } @lines;
    my @show = @important ? @important : @lines;
    my $what = @important ? "[emerg]/[alert]/[crit]/[error]/[warn] lines"
                          : "last lines";
    my $max = @important ? 50 : 30;
    if (@show > $max) {
        @show = @show[-$max .. -1];
        $what .= " (last $max)";
    }
    my $msg = "$name - $what of $ErrLogFile during this block:\n";
    $msg .= @show ? join('', map { "    $_" } @show) : "    (empty)\n";
    my @stderr = grep { /\S/ } _slurp_lines($StderrFile, 0);
    $msg .= "nginx stdout/stderr:\n" . join('', map { "    $_" } @stderr) if @stderr;
    Test::More::diag($msg);
}

# Stop nginx, run the cleanup handlers (once).  Called after the last block,
# from bail_out, and from END.
sub cleanup {
    return unless $$ == $MainPid;
    my @handlers = @CleanupHandlers;
    @CleanupHandlers = ();
    $_->() for @handlers;
    stop_nginx() if $NginxStarted && !$NoNginxManager && !$ENV{TEST_NGINX_NO_CLEAN};
    $NginxStarted = 0 unless $ENV{TEST_NGINX_NO_CLEAN};
}

END {
    if ($$ == $MainPid) {
        local $?;    # keep the test's exit status
        cleanup() if $NginxStarted || @CleanupHandlers;
    }
}

# Make Ctrl-C / kill run the END block (nginx stopped, handlers run).
for my $sig (qw(INT TERM)) {
    my $cur = $SIG{$sig};
    next if ref $cur || (defined $cur && $cur eq 'IGNORE');
    my $num = $sig eq 'INT' ? 2 : 15;
    $SIG{$sig} = sub { warn "caught SIG$sig, cleaning up\n"; exit(128 + $num) };
}

# A free local TCP port not already in %$taken.
sub pick_free_port {
    my ($taken) = @_;
    my %used = map { $_ => 1 } grep { defined } $ServerPort, values %{ $taken || {} };
    # below the kernel's ephemeral range, where no outgoing connection
    # takes the port before the server binds it
    my ($lo, $hi) = (10000, 32767);
    if (open my $f, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my ($eph) = split ' ', scalar <$f>;
        $hi = $eph - 1 if $eph && $eph - 1 > $lo + 1000;
    }
    for (1 .. 500) {
        my $port = $lo + int rand($hi - $lo + 1);
        next if $used{$port};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                      Proto => 'tcp', Listen => 1, ReuseAddr => 1)
            or next;
        return $port;
    }
    bail_out("Cannot find an available listening port number");
}

# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------

# "Key: value" lines -> "Key: value\r\n"; reports Transfer-Encoding: chunked.
sub _parse_more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text // '') {
        next if $line =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $line, 2;
        next unless defined $k && length $k;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# Turn "METHOD [URI [VERSION]]\n[body]" (possibly split into packets) into a
# full HTTP request: default URI "/", default version HTTP/1.1, Host and
# Connection headers, more_headers, Content-Length for a body.  Packet
# boundaries inside the body are kept.
sub _build_request {
    my ($name, $more_headers, $chunked, $conn, $packets) = @_;
    my $raw = join '', @$packets;
    $raw =~ /\A([^\n]*)(\n?)/;
    my ($first, $nl) = ($1, $2);
    my $body = substr $raw, length($first) + length($nl);
    $first =~ /^\s*(\S+)(?:\s+(\S+))?(?:\s+(\S+))?\s*$/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
                    . "but got \"$first\".");
    my ($method, $uri, $version) = ($1, $2 // '/', $3 // 'HTTP/1.1');

    my $len = '';
    my $body_skip = 0;    # leading body bytes dropped by the trimming
    if (!$chunked && length $body && $more_headers !~ /(?:^|\n)Content-Length:/i) {
        (my $lead) = $body =~ /\A(\s*)/;
        $body_skip = length $lead;
        $body =~ s/^\s+|\s+$//gs;
        $len = "Content-Length: " . length($body) . "\r\n";
    }
    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $more_headers !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $conn\r\n" if $more_headers !~ /(?:^|\n)Connection/i;
    my $head = "$method $uri $version\r\n$headers$more_headers$len\r\n";
    my $full = $head . $body;
    return [$full] if @$packets == 1;

    # Map each original packet boundary to the new request.
    my $orig_body_at = length($first) + length($nl);
    my (@cuts, $off);
    $off = 0;
    for my $p (@$packets[0 .. $#$packets - 1]) {
        $off += length $p;
        my $cut = $off <= $orig_body_at ? $off
                : length($head) + $off - $orig_body_at - $body_skip;
        $cut = length $head if $off > $orig_body_at && $cut < length $head;
        $cut = length $full if $cut > length $full;
        push @cuts, $cut;
    }
    my @out;
    my $prev = 0;
    for my $cut (@cuts, length $full) {
        $cut = $prev if $cut < $prev;
        push @out, substr($full, $prev, $cut - $prev);
        $prev = $cut;
    }
    return \@out;
}

# List of requests for the block; each request is a list of packets
# ({value => bytes, delay_before => seconds}).
sub _requests_from_block {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return [[ map { ref $_ ? $_ : { value => $_ } } ref $raw eq 'ARRAY' ? @$raw : ($raw) ]];
    }

    my $more = $block->more_headers // '';
    my $hdr_for = sub {
        my ($i) = @_;
        return _parse_more_headers($more) unless ref $more eq 'ARRAY';
        bail_out("--- more_headers lacks data for the ${i}th request")
            unless defined $more->[$i];
        return _parse_more_headers($more->[$i]);
    };

    if (defined(my $reqs = $block->pipelined_requests)) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $reqs eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my $req = expand_env_in_text($reqs->[$i], $name, undef);
            my ($hdr, $chunked) = $hdr_for->($i);
            $all .= _build_request($name, $hdr, $chunked,
                                   $i == $#$reqs ? 'close' : 'keep-alive', [$req])->[0];
        }
        return [[ { value => $all } ]];
    }

    my $request = $block->request;
    bail_out("$name - request empty") unless defined $request;
    my @list = ref $request eq 'ARRAY' ? @$request : ($request);
    bail_out("$name - invalid ---request : MUST be string or array of requests")
        if ref $request && ref $request ne 'ARRAY';
    my @out;
    for my $i (0 .. $#list) {
        my $one = $list[$i];
        my ($hdr, $chunked) = $hdr_for->($i);
        my @packets = ref $one eq 'ARRAY'
            ? map { ref $_ eq 'HASH' ? $_ : { value => $_ } } @$one
            : ({ value => $one });
        # drop leading blank lines and "# comment" lines before the request line
        1 while $packets[0]{value} =~ s/^\s*#[^\n]*\n|^\s+//;
        my $built = _build_request($name, $hdr, $chunked, 'close',
                                   [ map { $_->{value} } @packets ]);
        push @out, [ map { +{ %{ $packets[$_] }, value => $built->[$_] } } 0 .. $#packets ];
    }
    return \@out;
}

# Low-level exchange used by the HUP version probe: send, read until close.
sub _http_exchange {
    my ($req, $timeout) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPortForClient,
                                     Proto => 'tcp', Timeout => $timeout) or return undef;
    local $SIG{PIPE} = 'IGNORE';
    print {$sock} $req;
    my $sel = IO::Select->new($sock);
    my $resp = '';
    while ($sel->can_read($timeout)) {
        my $n = sysread $sock, my $buf, 65536;
        last unless $n;
        $resp .= $buf;
    }
    return $resp;
}

# Send one request (a list of packets) and read the response until the
# server closes the connection.  $timeout bounds the wait between two I/O
# events.  Returns the raw response (undef if we could not connect).
sub send_request {
    my ($packets, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    local $SIG{PIPE} = 'IGNORE';

    my $sock;
    my $deadline = time + 3;
    while (1) {
        $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock || time > $deadline;
        sleep 0.05;
    }
    if (!$sock) {
        Test::More::fail("$name - Can't connect to $addr:$ServerPortForClient: $! (aborted)");
        return undef;
    }
    $sock->blocking(0);

    my @todo = @$packets;
    my $buf = (shift @todo)->{value};
    my $resp = '';
    my $writing = 1;
    my $sel = IO::Select->new($sock);
    while (1) {
        $! = 0;
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR;
            close $sock;
            Test::More::fail("ERROR: client socket timed out - $name")
                unless defined $block->abort;
            return $resp;
        }
        if ($w && @$w) {
            my $n = syswrite $sock, $buf;
            if (!defined $n) {
                if ($! != EAGAIN && $! != EWOULDBLOCK) {
                    warn "$name - write failed: $!\n";
                    $writing = 0;
                }
            } else {
                substr($buf, 0, $n, '');
                while ($buf eq '' && @todo) {
                    my $next = shift @todo;
                    my $delay = $next->{delay_before} // $middle_delay;
                    sleep $delay if $delay;
                    $buf = $next->{value};
                }
                if ($buf eq '' && !@todo) {
                    $writing = 0;
                    if (defined(my $how = $block->shutdown)) {
                        shutdown $sock, ($how =~ /^\s*(\d)\s*$/ ? $1 : 1);
                    }
                }
            }
        }
        if ($r && @$r) {
            my $n = sysread $sock, my $chunk, 65536;
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK;
                warn "WARNING: $name - HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;
            $resp .= $chunk;
        }
    }
    close $sock;
    return $resp;
}

# Parse a raw HTTP response.  Returns ($res, $raw_headers, $left_over):
# chunked bodies are decoded; bytes after the body (pipelining) are returned
# separately.
sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $res = Test::Nginx::Socket::Response->new;
    my $raw_headers = $raw =~ /\A(.*?\r\n)\r\n/s ? $1 : '';

    my ($head, $body) = $raw =~ /\A(.*?)\r?\n\r?\n(.*)\z/s ? ($1, $2) : ($raw, '');
    my @lines = split /\r?\n/, $head;
    my $status = shift(@lines) // '';
    $res->{status_line} = $status;
    $res->code($1) if $status =~ m{^HTTP/\d+(?:\.\d+)?\s+(\d+)};
    for my $line (@lines) {
        if ($line =~ /^[ \t]+(.*)/ && @{ $res->{headers} }) {    # continuation
            $res->{headers}[-1][1] .= " $1";
        } elsif ($line =~ /^([^:]+?)\s*:\s*(.*?)\s*$/) {
            push @{ $res->{headers} }, [$1, $2];
        }
    }
    $res->content($body);

    my $code = $res->code // 0;
    if ($code == 304 || $code == 101 || $code == 204 || $head_req) {
        $res->content('');
        return ($res, $raw_headers, length $body ? $body : undef);
    }

    my $left;
    my $te = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    if (defined $te && $te =~ /\bchunked\b/i) {
        my $decoded = '';
        pos($body) = 0;
        while (1) {
            if ($body =~ /\G[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/gc) {
                my $size = hex $1;
                if ($size == 0) {
                    $body =~ /\G(?:[^\r\n]+\r\n)*\r\n/gc;    # trailers
                    $left = substr($body, pos($body)) if pos($body) < length $body;
                    last;
                }
                if (length($body) - pos($body) < $size + 2) {
                    Test::More::fail("$name - invalid chunked data received "
                                     . "(not enough octets for the data section)");
                    last;
                }
                $decoded .= substr($body, pos($body), $size);
                pos($body) += $size;
                unless ($body =~ /\G\r\n/gc) {
                    Test::More::fail("$name - invalid chunked data received (expected CRLF).");
                    last;
                }
            } else {
                Test::More::fail("$name - no last chunk found - "
                                 . substr($body, pos($body) // 0, 200));
                last;
            }
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        } elsif (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got "
                 . length($body) . "\n";
        }
    }
    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

# With several requests every expectation must be an array (one per request).
sub _indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return ref $value eq 'ARRAY' ? $value->[0] : $value;
}

sub _fmt {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub run_test_helper {
    my ($block, $repeated_idx) = @_;
    my $name = $block->name;
    my $requests = _requests_from_block($block);
    my $timeout = parse_time($block->timeout) // $Timeout;
    my $pipelined = defined $block->pipelined_requests;
    my $need_array = $pipelined || @$requests > 1;

    for my $ri (0 .. $#$requests) {
        my $head_req = join('', map { $_->{value} } @{ $requests->[$ri] }) =~ /^\s*HEAD\s/;
        my $raw = send_request($requests->[$ri], scalar $block->raw_request_middle_delay,
                               $timeout, $block) // '';
        my $n = $pipelined ? scalar @{ $block->pipelined_requests } : 1;
        for my $pi (0 .. $n - 1) {
            my $idx = $pipelined ? $pi : $ri;
            my ($res, $raw_headers, $left) = (undef, '', undef);
            if (!defined $block->ignore_response) {
                ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req);
                $raw_headers //= '';
                check_error_code($block, $res, $idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $idx, $need_array);
                _transform_response_body($block, $res, $idx);
                check_response_body($block, $res, $idx, $repeated_idx, $need_array);
            }
            $raw = $left // '';
            if ($idx < ($pipelined ? $n : scalar @$requests) - 1) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $res, $repeated_idx, $need_array);
                check_access_log($block, $repeated_idx) unless defined $block->ignore_response;
            }
        }
    }
    sleep $block->wait if $block->wait;
    check_error_log($block, undef, $repeated_idx, $need_array);
    check_access_log($block, $repeated_idx) unless defined $block->ignore_response;
}

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $re = _indexed($name, scalar $block->error_code_like, $idx, $need_array);
        Test::More::like($code, qr/$re/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($code, _indexed($name, scalar $block->error_code, $idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $re = _indexed($name, scalar $block->raw_response_headers_like, $idx, $need_array);
        Test::More::like($raw_headers, qr/$re/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $re = _indexed($name, scalar $block->raw_response_headers_unlike, $idx, $need_array);
        Test::More::unlike($raw_headers, qr/$re/s, "$name - raw resp headers unlike");
    }
}

# "--- response_headers": "Key: value" must equal; "Key:" (empty) means the
# header is absent or empty; "!Key" means it must not appear at all.
sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_headers) {
        my $h = parse_headers(_indexed($name, scalar $block->response_headers, $idx, $need_array));
        for my $key (sort keys %$h) {
            my $val = $h->{$key};
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $got = $res ? $res->header($key) : undef;
            Test::More::is($got // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $h = parse_headers(_indexed($name, scalar $block->response_headers_like, $idx, $need_array));
        for my $key (sort keys %$h) {
            my $val = $h->{$key} // '';
            my $got = $res ? $res->header($key) : undef;
            Test::More::like($got // '', qr/^$val$/, "$name - header $key like ok");
        }
    }
}

# "--- response_body_filters": uc lc ucfirst lcfirst length md5_hex sha1_hex
# or code refs, applied to the received body before the comparison.
sub _transform_response_body {
    my ($block, $res, $idx) = @_;
    my $filters = $block->response_body_filters;
    return unless defined $filters && $res && defined $res->content;
    my $name = $block->name;
    $filters = [split ' ', $filters] unless ref $filters;
    $filters = [$filters] if ref $filters eq 'CODE';
    $filters = $filters->[$idx] if ref $filters->[0] eq 'ARRAY';
    my $content = $res->content;
    for my $f (ref $filters eq 'ARRAY' ? @$filters : ($filters)) {
        if (ref $f eq 'CODE') { $content = $f->($content); next }
        if ($f =~ /^(md5_hex|sha1_hex)$/) {
            require Digest::MD5;
            require Digest::SHA;
            $content = $f eq 'md5_hex' ? Digest::MD5::md5_hex($content)
                                       : Digest::SHA::sha1_hex($content);
        } elsif ($f =~ /^(uc|lc|ucfirst|lcfirst|length)$/) {
            $content = $f eq 'uc' ? uc $content : $f eq 'lc' ? lc $content
                     : $f eq 'ucfirst' ? ucfirst $content
                     : $f eq 'lcfirst' ? lcfirst $content : length $content;
        } else {
            bail_out("$name - unknown filter, \"$f\", specified in the "
                     . "--- response_body_filters section");
        }
    }
    $res->content($content);
}

sub check_response_body {
    my ($block, $res, $idx, $repeated_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;
    if (defined $block->response_body) {
        my $expected = _indexed($name, scalar $block->response_body, $idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name, undef);
        }
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $repeated_idx, req $idx)");
        } else {
            Test::More::is($content, $expected,
                "$name - response_body - response is expected (repeated req $repeated_idx, req $idx)");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $pat = _indexed($name, $type eq "like" ? scalar $block->response_body_like
                                                  : scalar $block->response_body_unlike,
                           $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g unless ref $pat;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g unless ref $pat;
        my $summary = trim($content) // '';
        $summary = substr($summary, 0, 200) . '...' if length $summary > 200;
        my $desc = "$name - response_body_$type - response is expected ($summary)";
        $type eq 'like' ? Test::More::like($content, qr/$pat/s, $desc)
                        : Test::More::unlike($content, qr/$pat/s, $desc);
    }
    $_->($block, $res ? $res->content : undef, $idx, $repeated_idx, 0)
        for @ResponseBodyChecks;
}

sub _patterns {
    my ($pats) = @_;
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats] if ref $pats eq 'ARRAY';
    chomp $pats;
    return [split /\n+/, $pats];
}

sub _match_line {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : index($line, $pat) >= 0;
}

# error_log / no_error_log / grep_error_log(_out) against the error.log lines
# written since the previous check ($lines overrides that, for must_die).
sub check_error_log {
    my ($block, $res, $repeated_idx, $need_array, $lines) = @_;
    my $name = $block->name;
    my $get = sub { $lines ||= error_log_data() };
    my %seen_level;

    if (defined(my $grep = $block->grep_error_log)) {
        $grep = $grep->[$repeated_idx] if ref $grep eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        $expected = $expected->[$repeated_idx] if ref $expected eq 'ARRAY';
        $expected = expand_env_in_text($expected, $name, undef);
        my $out = '';
        for my $line (@{ $get->() }) {
            if (ref $grep ? $line =~ /$grep/ : $line =~ /\Q$grep\E/) {
                $out .= "$&\n" unless $& =~ /\n/;
            }
        }
        if (ref $expected eq 'Regexp') {
            Test::More::like($out, $expected, "$name - grep_error_log_out (req $repeated_idx)");
        } else {
            Test::More::is($out, $expected, "$name - grep_error_log_out (req $repeated_idx)");
        }
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    if (defined(my $p = $block->error_log)) {
        my $pats = _patterns($p);
        $seen_level{$_} = 1 for grep { _match_line(join(' ', map { "$_" } @$pats), "[$_") }
                                qw(alert crit emerg);
        for my $line (@{ $get->() }) {
            for my $pat (@$pats) {
                next unless defined $pat && _match_line($line, $pat);
                Test::More::pass("$name - pattern \"$pat\" matches a line in error.log (req $repeated_idx)");
                undef $pat;
            }
        }
        for my $pat (grep { defined } @$pats) {
            Test::More::fail("$name - pattern \"$pat\" should match a line in error.log (req $repeated_idx)");
        }
    }

    if (defined(my $p = $block->no_error_log)) {
        my $pats = _patterns($p);
        $seen_level{$_} = 1 for grep { _match_line(join(' ', map { "$_" } @$pats), "[$_") }
                                qw(alert crit emerg);
        my %found;
        my $all = $get->();
        for my $i (0 .. $#$all) {
            my $line = $all->[$i];
            for my $pat (@$pats) {
                next unless defined $pat && _match_line($line, $pat);
                $found{$pat} = 1;
                my @more = @$all[$i + 1 .. ($i + 9 < $#$all ? $i + 9 : $#$all)];
                Test::More::fail("$name - pattern \"" . _fmt($pat) . "\" should not match any "
                    . "line in error.log but matches line \"" . _fmt($line)
                    . "\" (req $repeated_idx)\n" . join('', @more));
            }
        }
        for my $pat (grep { defined && !$found{$_} } @$pats) {
            Test::More::pass("$name - pattern \"" . _fmt($pat)
                             . "\" does not match a line in error.log (req $repeated_idx)");
        }
    }

    # Like the real module: warn about unexpected [alert]/[crit]/[emerg]
    # lines, and fail on failed C assertions.
    for my $line (@{ $get->() }) {
        for my $level (qw(alert crit emerg)) {
            warn "WARNING: $name - " . _fmt($line) . "\n"
                if !$seen_level{$level} && index($line, "[$level]") >= 0;
        }
        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            Test::More::fail("$name - $l");
        }
    }
}

sub check_access_log {
    my ($block, $repeated_idx) = @_;
    my $name = $block->name;
    my $lines;
    if (defined(my $p = $block->access_log)) {
        my $pats = _patterns($p);
        $lines ||= access_log_data();
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next unless defined $pat && _match_line($line, $pat);
                Test::More::pass("$name - pattern \"$pat\" matches a line in access.log (req $repeated_idx)");
                undef $pat;
            }
        }
        Test::More::fail("$name - pattern \"$_\" should match a line in access.log (req $repeated_idx)")
            for grep { defined } @$pats;
    }
    if (defined(my $p = $block->no_access_log)) {
        my $pats = _patterns($p);
        $lines ||= access_log_data();
        my %found;
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next unless _match_line($line, $pat);
                $found{$pat} = 1;
                Test::More::fail("$name - pattern \"" . _fmt($pat) . "\" should not match any line "
                                 . "in access.log but matches line \"" . _fmt($line)
                                 . "\" (req $repeated_idx)");
            }
        }
        Test::More::pass("$name - pattern \"" . _fmt($_) . "\" does not match a line in access.log (req $repeated_idx)")
            for grep { !$found{$_} } @$pats;
    }
}

1;

__END__

=head1 NAME

Test::Nginx::Socket - ngx_farm's own subset of CPAN's Test::Nginx::Socket

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "hello\n"; }
    --- request
    GET /t
    --- response_body
    hello
    --- no_error_log
    [error]

=head1 DESCRIPTION

Used only when the real Test::Nginx is not installed (tests/run.pl decides
and puts F<t/harness> on PERL5LIB).  Test files must run unchanged under
either, so only the real module's behaviour is implemented.

B<Functions:> run_tests, run_test, blocks, next_block, first_block, filters,
run, no_shuffle, repeat_each, workers, master_on, master_off,
master_process_enabled, log_level, worker_connections, no_long_string,
no_diff, no_root_location, use_hup, env_to_nginx, config_preamble,
add_block_preprocessor, add_cleanup_handler, add_test_cleanup_handler,
add_response_body_check, check_accum_error_log, bail_out, is_str, timeout,
server_root, html_dir, server_port, server_port_for_client, server_addr,
server_name, no_nginx_manager; plus ok is isnt like unlike is_deeply cmp_ok
skip todo_skip pass fail eq_array eq_hash eq_set plan can_ok isa_ok diag
use_ok $TODO croak carp cluck confess (what the real one exports through
Test::Base).  Not exported, as in the real module: note, done_testing,
explain, subtest, BAIL_OUT -- call them as Test::More::note(...).

B<Sections:> config, http_config, main_config, post_main_config, init,
post_setup_server_root, server_name, request (string, "eval" to an array of
requests, a request given as an array of packets), raw_request,
raw_request_middle_delay, pipelined_requests, more_headers (string or one per
request), error_code, error_code_like, response_body, response_body_like,
response_body_unlike, response_body_filters, response_headers ("Key: val",
"Key:" = absent or empty, "!Key" = absent), response_headers_like,
raw_response_headers_like, raw_response_headers_unlike, error_log,
no_error_log, grep_error_log, grep_error_log_out, access_log, no_access_log,
error_log_file, log_level, timeout, wait, abort, shutdown, ignore_response,
must_die, user_files, skip_eval, skip_nginx, todo, reload_fails,
server_addr_for_client; meta sections ONLY, SKIP, LAST.  Filters: norm and
trim (always), chomp, chop, eval, lines, array, hash, join, split, reverse,
sort, head, tail, append, prepend, escape, regexp, unchomp, base64_encode,
base64_decode, and any function defined in the test file's main package.

B<Environment:> TEST_NGINX_BINARY, TEST_NGINX_SERVROOT, TEST_NGINX_PORT /
TEST_NGINX_SERVER_PORT, TEST_NGINX_CLIENT_PORT, TEST_NGINX_LOG_LEVEL,
TEST_NGINX_MASTER_PROCESS, TEST_NGINX_USE_HUP, TEST_NGINX_LOAD_MODULES,
TEST_NGINX_TIMEOUT, TEST_NGINX_NO_SHUFFLE, TEST_NGINX_CHECK_ACCUM_ERR_LOG,
TEST_NGINX_NO_NGINX_MANAGER, TEST_NGINX_NO_CLEAN, TEST_NGINX_FAST_SHUTDOWN,
TEST_NGINX_SLEEP, TEST_NGINX_VERBOSE; ours only: TEST_NGINX_SHUFFLE=1.

B<Differences from the real module>, all in the direction of failing at
least as loudly: blocks run in file order unless TEST_NGINX_SHUFFLE=1; when
nginx fails to start for a block that is not must_die, that block gets one
failed assertion (plus the error log) instead of a bail-out; after a block
with a failed assertion the block's [emerg]..[warn] error.log lines are
diag'ed; nginx is stopped when run_tests() returns (and again in END).

=cut
