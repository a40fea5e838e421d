#!/usr/bin/perl

# A webhook receiver for the tier router tests.
#
#   perl t/mock/webhook.pl --port N --log FILE [--fail N] [--hang-ms N]
#                          [--pidfile F] [--watch-pid PID] [--name NAME]
#
# Every POST is answered 200 {"ok":true}, and appended to FILE as one line
# of JSON: {"n": its number from 1, "path", "content_type",
# "idempotency_key", "user_agent", "status": what it was answered,
# "body": the body parsed as JSON, or "raw": the body if it is not}.
# --fail N: the first N POSTs are answered 500 (and logged so).
# --hang-ms N: every POST waits N ms before its answer (in a child, so
# the receiver goes on taking others).
# GET /health: 200 "ok".  Anything else: 404.  Every answer closes the
# connection.  One request at a time; SIGTERM stops it.

use strict;
use warnings;

use Getopt::Long;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use JSON::PP;
use Time::HiRes qw(sleep);
use Fcntl qw(:flock);

my %opt = (fail => 0, 'hang-ms' => 0);

GetOptions(\%opt, 'port=i', 'log=s', 'fail=i', 'hang-ms=i', 'pidfile=s',
    'watch-pid=i', 'name=s', 'verbose!')
    or die "usage: $0 --port N --log FILE [--fail N] [--hang-ms N]\n";

die "$0: --port and --log are required\n" unless $opt{port} && $opt{log};

my $JSON = JSON::PP->new->utf8->canonical;

my $listener = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1', LocalPort => $opt{port}, Proto => 'tcp',
    Listen => 64, ReuseAddr => 1,
) or die "$0: cannot listen on $opt{port}: $@\n";

my $parent = $$;

sub bye {
    return unless $$ == $parent;
    unlink $opt{pidfile} if $opt{pidfile};
    POSIX::_exit(0);
}

$SIG{TERM} = \&bye;
$SIG{INT} = \&bye;
$SIG{PIPE} = 'IGNORE';
$SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };

if ($opt{pidfile}) {
    open my $fh, '>', $opt{pidfile} or die "$0: $opt{pidfile}: $!\n";
    print $fh "$$\n";
    close $fh;
}

my $lsel = IO::Select->new($listener);
my $n = 0;

while (1) {
    if ($opt{'watch-pid'}) {
        bye() unless kill 0, $opt{'watch-pid'};
    }

    next unless $lsel->can_read(1);

    my $c = $listener->accept or next;
    my $req = read_request($c);

    unless ($req) {
        close $c;
        next;
    }

    if ($req->{method} eq 'GET' && $req->{path} eq '/health') {
        answer($c, 200, 'ok');
        next;
    }

    if ($req->{method} ne 'POST') {
        answer($c, 404, 'not found');
        next;
    }

    $n++;

    my $status = $n <= $opt{fail} ? 500 : 200;
    my %line = (
        n => $n, path => $req->{path}, status => $status,
        content_type => $req->{headers}{'content-type'},
        idempotency_key => $req->{headers}{'idempotency-key'},
        user_agent => $req->{headers}{'user-agent'},
    );

    my $body = eval { $JSON->decode($req->{body}) };

    if (ref $body) {
        $line{body} = $body;
    } else {
        $line{raw} = $req->{body};
    }

    open my $fh, '>>', $opt{log} or die "$0: $opt{log}: $!\n";
    flock $fh, LOCK_EX;
    print $fh $JSON->encode(\%line), "\n";
    close $fh;

    if ($opt{'hang-ms'}) {
        my $pid = fork;

        if (defined $pid && $pid == 0) {
            $SIG{TERM} = 'DEFAULT';
            close $listener;
            sleep $opt{'hang-ms'} / 1000;
            answer($c, $status, $status == 200 ? '{"ok":true}' : 'no');
            POSIX::_exit(0);
        }

        close $c;
        next;
    }

    answer($c, $status, $status == 200 ? '{"ok":true}' : '{"ok":false}');
}


sub read_request {
    my ($c) = @_;

    my $buf = '';
    my $sel = IO::Select->new($c);

    while ($buf !~ /\r\n\r\n/) {
        return undef unless $sel->can_read(5);
        my $got = sysread($c, $buf, 65536, length $buf);
        return undef unless $got;
    }

    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $path) = split / /, $line;
    my %h;

    for (@lines) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $h{lc $k} = $v;
    }

    my $len = $h{'content-length'} // 0;

    while (length $rest < $len) {
        return undef unless $sel->can_read(5);
        my $got = sysread($c, $rest, $len - length $rest, length $rest);
        return undef unless $got;
    }

    return { method => $method, path => $path, headers => \%h,
             body => $rest };
}


sub answer {
    my ($c, $status, $body) = @_;

    my $reason = $status == 200 ? 'OK' : $status == 404 ? 'Not Found'
        : 'Internal Server Error';

    print $c "HTTP/1.1 $status $reason\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n"
        . $body;
    close $c;
}
