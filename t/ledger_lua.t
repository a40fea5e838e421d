#!/usr/bin/perl

# The shared ledger's two Lua scripts, as the module sends them (read
# from ngx_http_tier_router_ledger.c), run on a real redis-server one
# call at a time: what a lease grants, whose leases count, and a batch
# that counts once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use TierRouter::Test;

my $t = TierRouter::Test->new(no_module => 1);
$t->redis;

# the C string literals of a static char array, as one Perl string

sub script {
    my ($name) = @_;

    my $c = $t->read_file(TierRouter::Test::repo()
        . '/ngx_http_tier_router_module/ngx/ngx_http_tier_router_ledger.c');
    my ($body) = $c =~ /\Q$name\E\[\] =\n(.*?);\n/s or die "no $name";
    my $s = join '', map {
        my $l = $_;
        $l =~ s/\\n/\n/g;
        $l =~ s/\\"/"/g;
        $l =~ s/\\\\/\\/g;
        $l;
    } $body =~ /"((?:[^"\\]|\\.)*)"/g;

    return $s;
}

my $LEASE = script('ngx_http_tier_router_ledger_lease_lua');
my $SETTLE = script('ngx_http_tier_router_ledger_settle_lua');

like($LEASE, qr/redis\.call\('HGETALL'/, 'the lease script, read');
like($SETTLE, qr/HINCRBY/, 'the settle script, read');

my $K = 'tr:z:1:t';
my $HB = 'tr:z:hb:';

# node, ask, limit, what it holds besides its lease, its lease:
# {granted, spent, its heartbeat was alive}

sub lease {
    my ($node, $ask, $limit, $keep, $lease, $cap) = @_;
    my $out = $t->redis_cli('EVAL', $LEASE, 1, $K, $node, $ask, $limit,
                            $keep, 0, $HB, 60000, $lease // 0,
                            $cap // 1e15);
    return [split /\n/, $out];
}

sub settle {
    my ($node, $seq, @amounts) = @_;
    my @keys = map { $K } @amounts;
    my $out = $t->redis_cli('EVAL', $SETTLE, 1 + @keys, 'tr:z:applied',
                            @keys, $node, $seq, 0, @amounts);
    return [split /\n/, $out];
}

sub field { my $v = $t->redis_cli('HGET', $K, $_[0]); chomp $v; $v }

is_deeply(lease('a', 1000, 10000, 0), [1000, 0, 0],
          'a lease, granted (no heartbeat before)');
is(field('L:a'), 1000, '... held by node a');
is($t->redis_cli('EXISTS', "${HB}a") + 0, 1, '... with its heartbeat');

# two asks of node a that cross (both say it holds nothing): they add up

is_deeply(lease('a', 1000, 10000, 0), [1000, 0, 1],
          'a second, crossing (its heartbeat alive)');
is(field('L:a'), 2000, '... both held');

# a third crossing ask, with the cap the node sends (what it held when
# it asked, and two asks): nothing more

is_deeply(lease('a', 1000, 10000, 0, 0, 2000), [0, 0, 1],
          'a third, crossing, past its cap: nothing');
is(field('L:a'), 2000, '... still two');

is_deeply(lease('b', 9000, 10000, 0), [8000, 0, 0],
          'node b gets what a leaves: 8000');
is_deeply(lease('c', 1000, 10000, 0), [0, 0, 0], 'node c: nothing left');

# a batch: spend counted, the lease used up by it

is_deeply(settle('a', 1, 1500), [1500], 'a batch of 1500');
is(field('spent'), 1500, '... spent');
is(field('L:a'), 500, '... a\'s lease less what it spent');
is_deeply(settle('a', 1, 1500), [1500], 'the same batch again: counted once');
is(field('spent'), 1500, '... still 1500');
is_deeply(settle('a', 2, 100, 200), [1600, 1800],
          'the next, two amounts on one key');
is(field('spent'), 1800, '... 1800');

# a node whose heartbeat lapsed: its lease is taken back

$t->redis_cli('DEL', "${HB}b");
my $r = lease('c', 9000, 10000, 0);
is($r->[0], 10000 - 1800 - 200, 'b gone: c gets b\'s lease back');
is(field('L:b'), '', '... b\'s lease dropped');

# no limit: what is asked

is_deeply(lease('d', 777, -1, 0), [777, 1800, 0],
          'no limit: granted as asked');

# a node that holds more than Redis knows (Redis lost it): its own word

$t->redis_cli('HSET', $K, 'L:e', 0);
lease('e', 0, 100000, 5000);
is(field('L:e'), 5000, 'a node\'s holding Redis lost comes back');

# Redis lost the tenant (a restart without persistence), the node's
# heartbeat alive: what the node says it holds, its lease included

$t->redis_cli('DEL', $K);
lease('e', 0, 100000, 5000, 700);
is(field('L:e'), 5700, 'the tenant lost: the node\'s word, lease and all');

# a node whose own heartbeat lapsed: the lease it says it has is not
# counted (others may have it now), only what it spends

$t->redis_cli('DEL', "${HB}a");
$r = lease('a', 100, 100000, 50, 300);
is($r->[2], 0, 'a lapsed: told so');
is(field('L:a'), 150, 'a lapsed: its old lease gone, 50 spent + 100 new');
is($r->[0], 100, 'a lapsed: granted');

done_testing;
