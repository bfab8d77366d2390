#!/usr/bin/perl
# A stand-in for a gateway's registration API (farm_registry_api, see
# docs/registry.md), for farm-agent's own tests: it checks what the agent
# sends and keeps the registrations in memory.  Core Perl only; one
# process, keep-alive connections.  Usage:
#
#   gateway.pl PORT PREFIX TOKEN_FILE CONTROL_FILE REQUEST_LOG
#
#   PUT    PREFIX/<service>/agents/<id>?ttl=..   201 new, 200 replaced
#   POST   PREFIX/<service>/agents/<id>/heartbeat?ttl=..  200, 404 unknown
#   DELETE PREFIX/<service>/agents/<id>          200, 404 unknown
#   anything else                                404 or 405
#
# Every call needs "Authorization: Bearer <TOKEN_FILE's content>" (read
# for every request, so a test can rotate it), else 401.  A PUT's body
# must be a JSON object whose id and service match the path, else 400.
#
# CONTROL_FILE, read for every request, holds one word:
#   forget   drop every registration (as if their TTLs ran out); the file
#            is then removed
#   hang     read requests, answer none
#   fail     answer 503 to everything
#
# Each request is appended to REQUEST_LOG as one JSON line: method, path,
# query, auth, ctype, body, status (undef when not answered).

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use JSON::PP;

my ($port, $prefix, $token_file, $control, $log_file) = @ARGV;
die "usage: gateway.pl PORT PREFIX TOKEN_FILE CONTROL_FILE REQUEST_LOG\n"
    unless defined $log_file;

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Listen => 128, ReuseAddr => 1, Proto => 'tcp')
    or die "gateway.pl: listen on $port: $!\n";
STDERR->autoflush(1);
$SIG{TERM} = sub { exit 0 };

my $json = JSON::PP->new->canonical;
my %agents;                     # "service/id" => record
my %buf;                        # fileno => bytes read
my %conn;                       # fileno => socket
my $sel = IO::Select->new($srv);

sub slurp {
    my ($file) = @_;
    open my $f, '<', $file or return '';
    local $/;
    my $text = <$f> // '';
    return $text;
}

sub log_request {
    my ($req) = @_;
    open my $f, '>>', $log_file or die "gateway.pl: $log_file: $!\n";
    print {$f} $json->encode($req), "\n";
    close $f;
}

sub reply {
    my ($c, $status, $body, @headers) = @_;
    my %text = (200 => 'OK', 201 => 'Created', 400 => 'Bad Request',
                401 => 'Unauthorized', 404 => 'Not Found',
                405 => 'Method Not Allowed', 503 => 'Service Unavailable');
    my $head = "HTTP/1.1 $status " . ($text{$status} // 'Status') . "\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n"
             . join('', map { "$_\r\n" } @headers) . "\r\n";
    local $SIG{PIPE} = 'IGNORE';
    syswrite $c, $head . $body;
}

sub error { return (shift, $json->encode({ error => shift }), @_) }

# Answers one request: (status, body, headers...)
sub answer {
    my ($req) = @_;
    my $mode = slurp($control);
    $mode =~ s/\s+//g;

    if ($mode eq 'forget') {
        %agents = ();
        unlink $control;
    }

    return () if $mode eq 'hang';
    return error(503, 'failing on purpose') if $mode eq 'fail';

    my $token = slurp($token_file);
    $token =~ s/[\r\n]+\z//;

    return error(401, 'token: missing or wrong',
                 'WWW-Authenticate: Bearer realm="farm"')
        unless ($req->{auth} // '') eq "Bearer $token";

    my $p = quotemeta $prefix;
    my ($service, $id, $beat) = $req->{path} =~
        m{^$p/([^/]+)/agents/([^/]+)(/heartbeat)?$}
        or return error(404, 'no such service');
    my $key = "$service/$id";
    my $m = $req->{method};

    if ($beat) {
        return error(405, 'method', 'Allow: POST') unless $m eq 'POST';
        return error(404, "$id: not registered") unless $agents{$key};
        return (200, $json->encode({ id => $id, ttl_ms => 0 }));
    }

    if ($m eq 'PUT') {
        my $rec = eval { $json->decode($req->{body}) };
        return error(400, 'record: not a JSON object') unless ref $rec eq 'HASH';
        return error(400, 'id: must equal the path') unless ($rec->{id} // '') eq $id;
        return error(400, 'service: must equal the path')
            unless ($rec->{service} // '') eq $service;
        my $new = !$agents{$key};
        $agents{$key} = $rec;
        return ($new ? 201 : 200,
                $json->encode({ id => $id, service => $service, ttl_ms => 0 }));
    }

    if ($m eq 'DELETE') {
        return error(404, "$id: not registered") unless delete $agents{$key};
        return (200, $json->encode({ id => $id, deregistered => JSON::PP::true }));
    }

    return error(405, 'method', 'Allow: PUT, DELETE');
}

# Parses whole requests out of the connection's buffer and answers them.
sub serve {
    my ($c) = @_;
    my $b = \$buf{ fileno $c };

    while ($$b =~ /\r\n\r\n/) {
        my ($head, $rest) = split /\r\n\r\n/, $$b, 2;
        my ($line, @lines) = split /\r\n/, $head;
        my %h;
        for (@lines) {
            $h{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/;
        }
        my $len = $h{'content-length'} // 0;
        return if length($rest) < $len;

        $$b = substr($rest, $len);
        my ($method, $target) = split / /, $line;
        my ($path, $query) = split /\?/, $target, 2;
        my $req = { method => $method, path => $path, query => $query // '',
                    auth => $h{authorization}, ctype => $h{'content-type'},
                    body => substr($rest, 0, $len) };
        my ($status, $body, @headers) = answer($req);
        $req->{status} = $status;
        log_request($req);
        reply($c, $status, $body, @headers) if defined $status;
    }
}

while (1) {
    for my $s ($sel->can_read) {
        if ($s == $srv) {
            my $c = $srv->accept or next;
            $sel->add($c);
            $conn{ fileno $c } = $c;
            $buf{ fileno $c } = '';
            next;
        }

        my $n = sysread $s, $buf{ fileno $s }, 65536, length $buf{ fileno $s };

        if (!$n) {
            delete $buf{ fileno $s };
            delete $conn{ fileno $s };
            $sel->remove($s);
            close $s;
            next;
        }

        serve($s);
    }
}
