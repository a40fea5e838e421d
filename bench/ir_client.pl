#!/usr/bin/perl

# Send N POSTs of one body over one keep-alive connection and read each
# answer whole (Content-Length or chunked); exit 1 on anything but 200.
# The client of bench/instructions.sh: not measured, only sequential.
#
#   perl bench/ir_client.pl PORT URI BODY_FILE N

use strict;
use warnings;

use IO::Socket::INET;

my ($port, $uri, $file, $n) = @ARGV;
die "usage: $0 PORT URI BODY_FILE N\n" unless defined $n;

open my $fh, '<:raw', $file or die "$file: $!\n";
my $body = do { local $/; <$fh> };
close $fh;

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Proto => 'tcp', Timeout => 60)
    or die "connect $port: $!\n";
binmode $s;

my $req = "POST $uri HTTP/1.1\r\nHost: bench\r\n"
          . "Content-Type: application/json\r\n"
          . "Authorization: Bearer sk-bench\r\n"
          . 'Content-Length: ' . length($body) . "\r\n\r\n" . $body;

my $buf = '';

sub fill {
    my $got = sysread($s, $buf, 65536, length $buf);
    die "read: " . (defined $got ? 'closed' : $!) . "\n" unless $got;
}

for my $i (1 .. $n) {
    syswrite($s, $req) == length $req or die "write: $!\n";

    fill() until $buf =~ /\r\n\r\n/;
    $buf =~ s/^(.*?)\r\n\r\n//s;
    my $head = $1;

    $head =~ m{^HTTP/1\.1 (\d+)} or die "not HTTP: $head\n";
    die "status $1 on request $i\n" unless $1 == 200;

    if ($head =~ /^Content-Length:\s*(\d+)/mi) {
        my $len = $1;
        fill() while length $buf < $len;
        substr($buf, 0, $len) = '';

    } elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
        while (1) {
            fill() until $buf =~ /\r\n/;
            $buf =~ s/^([0-9a-fA-F]+)[^\r]*\r\n// or die "bad chunk\n";
            my $len = hex $1;
            fill() while length $buf < $len + 2;
            substr($buf, 0, $len + 2) = '';
            if ($len == 0) { last; }
        }

    } else {
        die "an answer without a length\n";
    }
}

close $s;
