#!/usr/bin/perl

# Budgets across a fleet: three nginx nodes, each with its own zone, share
# one tenant's budget through a real redis-server (tier_router_budget_redis).
# A node reserves from a lease it takes from Redis atomically and settles
# to Redis in batches.  Checked: exact spend in Redis, a burst spread over
# the nodes within the limit (each node alone would let the whole limit
# through), Redis killed and restarted mid-burst losing no settled spend,
# a node killed losing at most its lease, on_error=open and closed while
# Redis is down.  $1 per million tokens: a token is a micro-dollar.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use POSIX ();

use TierRouter::Test;

my $J = JSON::PP->new->utf8->canonical;

# under faketime (scripts/test-dates.sh) the nodes' clocks and Redis's
# part: the heartbeats and leases here run on Redis's real time, and the
# period is the test's own clock (X-Clock), so nothing here is of a date
plan(skip_all => 'leases and heartbeats run on real time, not faketime')
    if $ENV{FAKETIME};

my $t1 = TierRouter::Test->new;
my $redis = $t1->redis;
my $mock = $t1->mock('gpt');

# 2026-11-15 12:00 UTC: one clock for the whole test
my $NOV = 1794744000;
my $PERIOD = 1793491200;

my $LIMIT = 10000;          # $0.01, in micro-dollars
my $LEASE = 1000;           # 10% of it

sub node_conf {
    my (%o) = @_;

    my $fail = $o{fail} // 'closed';
    my $sync = $o{sync} // '200ms';
    my $ttl = $o{sync} ? '30s' : '3s';

    return <<"EOF";
worker_processes 2;

http {
    %%HTTP_DEFAULTS%%

    upstream gpt_up { server 127.0.0.1:$mock; }

    tier_router_ladder openai api=openai {
        tier gpt model=gpt-x upstream=gpt_up;
    }

    tier_router_price gpt-x input=1 output=1;

    tier_router_budget_zone zone=tenants:1m period=month
                            hash_key=%%TESTDIR%%/hash.key;
    tier_router_budget_redis zone=tenants server=127.0.0.1:$redis
                             lease=10% min_lease=0 timeout=300ms
                             sync=$sync ttl=$ttl on_error=$fail;

    log_format spend 'S cost=\$tier_router_cost status=\$status '
                     'reason=\$tier_router_reason';

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router_budget_clock \$http_x_clock;

        location = /status {
            tier_router_status tenants;
        }

        location /v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=tenants key=\$http_authorization
                               limit=\$http_x_limit;
            access_log %%TESTDIR%%/spend.log spend;
            proxy_pass http://\$tier_router_upstream;
        }
    }
}
EOF
}

my @nodes = ($t1, TierRouter::Test->new, TierRouter::Test->new);

for my $n (@nodes) {
    $n->write_file('hash.key', 'one secret for the whole fleet, 32 bytes');
    $n->write_config(node_conf());
    $n->run;
}

# a request of in + out tokens, so in + out micro-dollars

sub spend {
    my ($node, %o) = @_;

    return $node->post_json('/v1/chat/completions',
        { model => 'auto', max_tokens => $o{max} // 100,
          messages => [{ role => 'user', content => 'Say hi.' }] },
        'Authorization' => $o{key} // 'Bearer sk-fleet',
        'X-Limit' => $o{limit} // '0.01',
        'X-Clock' => $NOV,
        'X-Mock-Input-Tokens' => $o{in} // 50,
        'X-Mock-Output-Tokens' => $o{out} // 50);
}

sub status {
    my ($node) = @_;
    return $J->decode($node->http_get('/status', 'X-Clock' => $NOV)->{body});
}

# the tenant's key in Redis: its spend and each node's lease

sub ledger {
    my ($key) = @_;

    my @keys = grep { /\S/ } split /\n/,
               $t1->redis_cli('KEYS', "tier-router:tenants:$PERIOD:*") // '';
    my %all;

    for my $k (@keys) {
        my @kv = split /\n/, $t1->redis_cli('HGETALL', $k);
        $all{$k} = { @kv };
    }

    return \%all;
}

sub redis_spent {
    my $l = ledger();
    my $s = 0;
    $s += $_->{spent} // 0 for values %$l;
    return $s;
}

# what the nodes' access logs charged

sub logged {
    my ($node) = @_;
    my $sum = 0;
    for (split /\n/, $node->read_file('spend.log')) {
        $sum += sprintf('%.0f', $1 * 1e6) if /cost=([\d.]+)/;
    }
    return $sum;
}

sub logged_all {
    my $s = 0;
    $s += logged($_) for @_;
    return $s;
}

sub synced {
    my (@n) = @_;
    return $t1->wait_for(sub {
        my $want = logged_all(@n);
        return redis_spent() == $want ? $want || 1 : 0;
    }, 10);
}

# -- one node: the lease, the batch, exact spend --------------------------

my $r = spend($t1, key => 'Bearer sk-one', in => 300, out => 200);
is($r->{status}, 200, 'one node: 200');
ok(synced($t1), 'one node: the spend reaches Redis');
my $l = ledger();
my ($k) = keys %$l;
like($k, qr/^tier-router:tenants:$PERIOD:[0-9a-f]{32}$/,
     'a key per zone, period and tenant hash');
is($l->{$k}{spent}, 500, 'Redis has the exact spend: 500 micro-dollars');
my @leases = grep { /^L:/ } keys %{$l->{$k}};
is(scalar @leases, 1, 'one node holds a lease');
my $s = status($t1);
is($s->{ledger}{connection}, 'up', 'status: connected');
ok($s->{ledger}{leases_asked} >= 1, 'status: a lease asked');
ok($s->{ledger}{batches} >= 1, 'status: a batch taken');
is($s->{tenants}[0]{unsynced_micro_usd}, 0, 'status: nothing left to send');
unlike($J->encode($l), qr/sk-one|Bearer/, 'no key in Redis');

# -- a burst spread over three nodes: the limit holds for the fleet -------

my ($served, $refused) = (0, 0);
my $key = 'Bearer sk-burst';

for my $i (0 .. 299) {
    my $r = spend($nodes[$i % 3], key => $key);
    if ($r->{status} == 200) { $served++ } else { $refused++ }
}

ok(synced(@nodes), 'burst: every node\'s spend reaches Redis');
my $burst = redis_spent() - 500;
diag("burst: $served served, $refused refused, $burst micro-dollars");
ok($burst <= $LIMIT, "burst: the fleet spent at most the limit ($burst)");
ok($served * 100 <= $LIMIT, 'burst: at most 100 requests of $0.0001');
ok($burst >= $LIMIT - 3 * $LEASE,
   'burst: at least the limit less the nodes\' leases was usable');
is($burst, $served * 100, 'burst: exactly what was served');
like(join('', map { $_->read_file('spend.log') } @nodes),
     qr/status=429 reason=\S*budget/, 'burst: the rest refused by budget');

# -- the same burst at once, on every node together, 180 requests ---------------------

$key = 'Bearer sk-concurrent';
my $spent_before = redis_spent();
my @kids;

# four clients per node: a node's own asks for a lease cross each other

for my $n (map { ($_) x 4 } @nodes) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        spend($n, key => $key) for 1 .. 15;
        POSIX::_exit(0);
    }

    push @kids, $pid;
}

waitpid($_, 0) for @kids;

ok(synced(@nodes), 'concurrent: every node\'s spend reaches Redis');
$burst = redis_spent() - $spent_before;
diag("concurrent burst: $burst micro-dollars");
ok($burst <= $LIMIT, "concurrent: within the limit ($burst)");
ok($burst >= $LIMIT - 3 * $LEASE, 'concurrent: most of it usable');

# -- a batch Redis took whose answer was lost: sent again, counted once ---

$key = 'Bearer sk-lost-answer';
$spent_before = redis_spent();
my $before_logged = logged_all(@nodes);
my $fail0 = status($t1)->{ledger}{failures};

spend($t1, key => $key, limit => '1');
spend($t1, key => $key, limit => '1');

# Redis stops answering for longer than the timeout (300ms) while the
# next batch is in its input: the node gives up on it, Redis runs it
# after, and the node sends it again with the same number

system("env -u LD_PRELOAD -u FAKETIME redis-cli -p $redis DEBUG SLEEP 1.2 "
       . "> /dev/null 2>&1 &");
select undef, undef, undef, 0.05;
spend($t1, key => $key, limit => '1');
select undef, undef, undef, 1.5;

ok(synced(@nodes), 'lost answer: the spend is in Redis');
is(redis_spent() - $spent_before, logged_all(@nodes) - $before_logged,
   'lost answer: counted once');
ok(status($t1)->{ledger}{failures} > $fail0, 'lost answer: a failure seen');
my $applied = $t1->redis_cli('HGET', 'tier-router:tenants:applied',
                             status($t1)->{ledger}{node});
chomp $applied;
is($applied, status($t1)->{ledger}{batch_seq},
   'Redis remembers the node\'s last batch');

# -- Redis killed mid-burst and started again: no settled spend lost ------

$key = 'Bearer sk-redis-restart';
my $before = logged_all(@nodes);
my $spent0 = redis_spent();

for my $i (0 .. 29) {
    spend($nodes[$i % 3], key => $key, limit => '1');
}

$t1->redis_stop('KILL');

my %st;
for my $i (30 .. 59) {
    $st{spend($nodes[$i % 3], key => $key, limit => '1')->{status}}++;
}
diag('with Redis down: ' . join(', ', map { "$_: $st{$_}" } sort keys %st));
ok(!$st{500} && !$st{502}, 'Redis down: no server error');

$t1->redis;

for my $i (60 .. 89) {
    spend($nodes[$i % 3], key => $key, limit => '1');
}

ok(synced(@nodes), 'Redis back: every node\'s spend reaches it');
is(redis_spent() - $spent0, logged_all(@nodes) - $before,
   'Redis restarted: no settled spend lost, none counted twice');

# -- a node killed: it loses at most its lease ------------------------------

$key = 'Bearer sk-node-kill';
$before = logged_all(@nodes);
$spent0 = redis_spent();

for my $i (0 .. 44) {
    spend($nodes[$i % 3], key => $key, limit => '1');
}

# node 3 and its workers, at once, with spend not sent yet
my $pid3 = $nodes[2]->{nginx_pid};
my @w3 = $nodes[2]->_workers;
kill 'KILL', $pid3, @w3;
select undef, undef, undef, 0.3;

ok($t1->wait_for(sub { logged_all(@nodes[0, 1]) - $before + 0
                       <= redis_spent() - $spent0 }, 5),
   'node killed: the others\' spend is all in Redis');
my $lost = logged_all(@nodes) - $before - (redis_spent() - $spent0);
diag("node killed: $lost micro-dollars lost");
ok($lost >= 0 && $lost <= 1 * 100000 / 10,
   "node killed: lost at most its lease (\$1 x 10%: $lost)");

# its leases lapse with its heartbeat: the others take them back

delete $nodes[2]->{nginx_pid};
unlink $nodes[2]->testdir . '/nginx.pid';

# -- Redis down: closed refuses past the lease, open admits ----------------

$t1->redis_stop('KILL');

$key = 'Bearer sk-down';
%st = ();
for my $i (0 .. 9) {
    $st{spend($t1, key => $key)->{status}}++;
}
ok($st{503}, 'closed: refused with 503 once the lease runs out');
my $r503 = spend($t1, key => $key);
is($r503->{status}, 503, 'closed: 503');
like($r503->{json}{error}{message}, qr/ledger is out of reach/,
     'closed: says why');
is($r503->{headers}{'retry-after'}, 1, 'closed: retry after a second');
ok(status($t1)->{ledger}{refused_closed} >= 1, 'closed: counted');

$nodes[1]->write_config(node_conf(fail => 'open'));
$nodes[1]->reload;

%st = ();
for my $i (0 .. 9) {
    $st{spend($nodes[1], key => 'Bearer sk-open')->{status}}++;
}
is($st{200}, 10, 'open: admitted by this node\'s budget alone');
ok(status($nodes[1])->{ledger}{admitted_open} >= 10, 'open: counted');
like($nodes[1]->error_log, qr/redis out of reach: admitted by this node/,
     'open: logged');

$t1->redis;

# what the open node admitted while Redis was down goes to Redis now

ok($t1->wait_for(sub {
        my $s = status($nodes[1]);
        return !$s->{ledger}{batch_out}
               && !grep { $_->{unsynced_micro_usd} } @{$s->{tenants}};
    }, 10), 'Redis back: the open node sent what it admitted meanwhile');
like($t1->redis_cli('KEYS', "tier-router:tenants:*") // '', qr/\S/,
     'Redis back: keys in it');

unlike(join('', map { $_->error_log } @nodes[0, 1]),
       qr/\[(alert|crit|emerg)\]/, 'no alert in the logs');

$nodes[0]->stop;

# -- a node that quits sends what it has not sent yet --------------------

$nodes[1]->write_config(node_conf(sync => '3s'));
$nodes[1]->reload;

$key = 'Bearer sk-quit';
$spent_before = redis_spent();
$before_logged = logged($nodes[1]);

is(spend($nodes[1], key => $key, limit => '1', in => 700, out => 77)
       ->{status}, 200, 'quit: a request');
my $qpid = $nodes[1]->{nginx_pid};
kill 'QUIT', $qpid;
ok($t1->wait_for(sub { !kill 0, $qpid }, 15), 'quit: nginx is gone');
delete $nodes[1]->{nginx_pid};
is(redis_spent() - $spent_before, logged($nodes[1]) - $before_logged,
   'quit: its last spend reached Redis as it left');
is(redis_spent() - $spent_before, 777, 'quit: 777 micro-dollars');

# -- configuration ----------------------------------------------------------

my %bad = (
    'server=localhost:6379' => qr/invalid server "localhost:6379"/,
    'server=127.0.0.1:6379 lease=0%' => qr/invalid parameter "lease=0%"/,
    'server=127.0.0.1:6379 sync=1s ttl=2s' => qr/at least 4 times/,
    'lease=10%' => qr/needs "zone=" and "server="/,
);

for my $args (sort keys %bad) {
    $t1->write_config(<<"EOF", file => 'bad.conf');
http {
    tier_router_budget_zone zone=z:1m hash_key=%%TESTDIR%%/hash.key;
    tier_router_budget_redis zone=z $args;
}
EOF
    my ($rc, $out) = $t1->test_config('bad.conf');
    ok($rc != 0 && $out =~ $bad{$args}, "refused: $args") or diag($out);
}

$t1->write_config(<<"EOF", file => 'bad.conf');
http {
    tier_router_budget_zone zone=z:1m;
    tier_router_budget_redis zone=z server=127.0.0.1:6379;
}
EOF
my ($rc, $out) = $t1->test_config('bad.conf');
like($out, qr/needs "hash_key=" for redis/, 'refused: no hash_key');

$t1->write_config(<<"EOF", file => 'bad.conf');
http {
    tier_router_budget_zone zone=z:1m limit=5 hash_key=%%TESTDIR%%/hash.key;
    tier_router_budget_redis zone=z server=127.0.0.1:6379;
}
EOF
($rc, $out) = $t1->test_config('bad.conf');
like($out, qr/zone-wide "limit=" is this node's only/,
     'refused: a zone-wide limit');

done_testing;
