# Helpers for the farm_kong suites (t/4x-kong-*.t).
#
# kong_server(): blocks without "--- config" get a server that routes every
# request by ../html/kong.yml (the block's user file) with farm_kong.
#
# JSON Web Tokens for the jwt tests, made at test time: key pairs from the
# openssl command line, HMAC with Digest::SHA, RSA and ECDSA signatures from
# `openssl dgst -sign` (ECDSA's DER converted to JWS's raw r||s).  Nothing
# is hard-coded: a key or a signature that cannot be made dies, so the test
# fails instead of passing on a stale token.
#
#   my $k = jwt_keypair('rsa');            # {private => path, public => PEM}
#   my $t = jwt_token('RS256', $k->{private}, {iss => 'k1', exp => time + 60});
#   my $h = jwt_token('HS256', 'secret', {iss => 'k2'}, {kid => 'x'});
#
# Reloads with a changed file, from an --- init or a test's own code:
#
#   kong_write("upstreams:\n- name: ...\n");  # ../html/kong.yml, 3.0 format
#   kong_reload();      # SIGHUP, then waits until every worker is a new one
#
# Targets for a Kong upstream, as servers of the test's own nginx (for
# --- http_config), each answering 200 "<name>\n" with X-Target: <name>:
#
#   kong_targets([a => $A, b => $B], server => "access_log /tmp/NAME.log;",
#                location => 'add_header X-Conn $connection always;');
#   (NAME in the extra lines stands for each target's name)

package FarmKong;

use strict;
use warnings;

use Exporter 'import';
use Digest::SHA ();
use File::Temp ();
use JSON::PP ();
use MIME::Base64 ();

our @EXPORT = qw(kong_server jwt_keypair jwt_token jwt_b64 yaml_block
                 kong_write kong_reload kong_targets);

my $Dir = File::Temp::tempdir('farmkong-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $Seq = 0;

my $KongServer = <<'_EOC_';
    farm_kong ../html/kong.yml;

    location / {
        proxy_pass $farm_kong_url;
        proxy_set_header Host $farm_kong_host;
    }
_EOC_

sub kong_server {
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        $block->set_value('config', $KongServer)
            unless defined $block->config;
    });
}

sub jwt_b64 {
    my ($bytes) = @_;
    my $s = MIME::Base64::encode_base64($bytes, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+\z//;
    return $s;
}

sub _slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "FarmKong: $path: $!\n";
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

sub _openssl {
    my (@args) = @_;
    system('openssl', @args) == 0
        or die "FarmKong: openssl @args: exit " . ($? >> 8) . "\n";
}

# jwt_keypair('rsa' | 'ec256' | 'ec384'): a new private key file and its
# public key in PEM
sub jwt_keypair {
    my ($type) = @_;
    my $priv = "$Dir/key" . ++$Seq . '.pem';
    my $pub = "$priv.pub";

    if ($type eq 'rsa') {
        _openssl('genpkey', '-quiet', '-algorithm', 'RSA', '-pkeyopt',
                 'rsa_keygen_bits:2048', '-out', $priv);
    } elsif ($type =~ /\Aec(256|384)\z/) {
        _openssl('genpkey', '-quiet', '-algorithm', 'EC', '-pkeyopt',
                 'ec_paramgen_curve:' . ($1 == 256 ? 'P-256' : 'P-384'),
                 '-out', $priv);
    } else {
        die "FarmKong: unknown key type $type\n";
    }

    _openssl('pkey', '-in', $priv, '-pubout', '-out', $pub);

    return { private => $priv, public => _slurp($pub) };
}

# DER ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) -> r||s, each
# left-padded to $n bytes
sub _ecdsa_raw {
    my ($der, $n) = @_;
    my @b = unpack('C*', $der);
    my $i = 0;
    my $len = sub {
        my $l = $b[$i++];
        return $l if $l < 0x80;
        my $k = $l & 0x7f;
        $l = 0;
        $l = ($l << 8) | $b[$i++] for 1 .. $k;
        return $l;
    };

    die "FarmKong: not a DER signature\n" unless $b[$i++] == 0x30;
    $len->();

    my $out = '';
    for (1 .. 2) {
        die "FarmKong: not a DER integer\n" unless $b[$i++] == 0x02;
        my $l = $len->();
        my $int = pack('C*', @b[$i .. $i + $l - 1]);
        $i += $l;
        $int =~ s/\A\x00+//;
        die "FarmKong: integer too long\n" if length($int) > $n;
        $out .= ("\x00" x ($n - length $int)) . $int;
    }

    return $out;
}

# jwt_token(alg, secret or private key path, claims, extra header fields)
sub jwt_token {
    my ($alg, $key, $claims, $header) = @_;
    my $json = JSON::PP->new->canonical;
    my $head = { typ => 'JWT', alg => $alg, %{ $header // {} } };
    my $input = jwt_b64($json->encode($head)) . '.'
                . jwt_b64($json->encode($claims));
    my ($kind, $bits) = $alg =~ /\A(HS|RS|ES)(256|384|512)\z/
        or die "FarmKong: unsupported alg $alg\n";
    my $sig;

    if ($kind eq 'HS') {
        no strict 'refs';
        $sig = &{"Digest::SHA::hmac_sha$bits"}($input, $key);
    } else {
        my $in = "$Dir/in" . ++$Seq;
        my $out = "$in.sig";
        open my $fh, '>:raw', $in or die "FarmKong: $in: $!\n";
        print {$fh} $input;
        close $fh;
        _openssl('dgst', "-sha$bits", '-sign', $key, '-out', $out, $in);
        $sig = _slurp($out);
        $sig = _ecdsa_raw($sig, $bits == 256 ? 32 : $bits == 384 ? 48 : 66)
            if $kind eq 'ES';
    }

    return "$input." . jwt_b64($sig);
}

# a multi-line string as a YAML literal block at the given indentation
sub yaml_block {
    my ($text, $indent) = @_;
    my $pad = ' ' x $indent;
    $text =~ s/\n\z//;
    return "|\n" . join("\n", map { "$pad$_" } split /\n/, $text);
}

# Replaces the running test's kong.yml (the block's ../html/kong.yml) with
# $text after a `_format_version: "3.0"` line.
sub kong_write {
    my ($text) = @_;
    my $file = FarmTest::servroot() . '/html/kong.yml';
    my $tmp = "$file.new";
    open my $fh, '>', $tmp or die "FarmKong: $tmp: $!\n";
    print {$fh} "_format_version: \"3.0\"\n$text";
    close $fh or die "FarmKong: $tmp: $!\n";
    rename $tmp, $file or die "FarmKong: rename to $file: $!\n";
}

# nginx -s reload, then waits (up to 60 s) until none of the workers that
# ran before is left running the new requests: the new configuration is
# the one that answers.
sub kong_reload {
    my @old = FarmTest::worker_pids();
    my $master = FarmTest::nginx_pid() or die "FarmKong: no nginx pid\n";
    kill 'HUP', $master or die "FarmKong: HUP $master: $!\n";
    my %was = map { $_ => 1 } @old;
    FarmTest::wait_until(sub {
        my @now = FarmTest::worker_pids();
        return @now >= @old && !grep { $was{$_} } @now;
    }, 60, 'new workers after the reload');
}

sub kong_targets {
    my ($targets, %opt) = @_;
    my @t = @$targets;
    my $conf = '';
    while (my ($name, $port) = splice @t, 0, 2) {
        my ($server, $location) = map { (my $x = $_ // '') =~ s/NAME/$name/g; $x }
                                  @opt{qw(server location)};
        $conf .= "    server {\n        listen 127.0.0.1:$port;\n"
               . ($server ? "        $server\n" : '')
               . "        location / {\n"
               . "            add_header X-Target $name always;\n"
               . ($location ? "            $location\n" : '')
               . "            return 200 \"$name\\n\";\n"
               . "        }\n    }\n";
    }
    return $conf;
}

1;
