#!/usr/bin/perl

# Alerts before the wall: tier_router_budget_alert POSTs a webhook when a
# tenant's settled spend reaches each threshold of its limit, once per
# tenant, threshold and period, from libcurl driven by nginx's event loop.
# A receiver (t/mock/webhook.pl) that fails is retried with backoff, one
# that never answers is given up and counted, one that hangs blocks no
# request, and a reload sends again what was in flight.  Spend is exact:
# $1 per million tokens, so a token is a micro-dollar.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;
use TierRouter::Prometheus;

my $t = TierRouter::Test->new;

$t->mock('gpt');
$t->webhook('hook');
$t->webhook('flaky', '--fail', 2);
$t->webhook('slow', '--hang-ms', 2500);
$t->webhook('reload', '--hang-ms', 1500);
$t->webhook('tiny', '--hang-ms', 1000);

# a port nobody listens on: the "dead" receiver
$t->port('dead');

# 2026-11-15 12:00 UTC: one clock for the whole test
my $NOV = 1794744000;
my $DEC = $NOV + 30 * 86400;

$t->write_config(<<'EOF');
worker_processes 2;

http {
    %%HTTP_DEFAULTS%%

    upstream gpt_up { server 127.0.0.1:%%PORT_mock_gpt%%; }

    tier_router_ladder openai api=openai {
        tier gpt model=gpt-x upstream=gpt_up;
    }

    tier_router_price gpt-x input=1 output=1;

    tier_router_budget_zone zone=tenants:1m period=month
                            state=%%TESTDIR%%/tenants.json;
    tier_router_budget_alert zone=tenants
        url=http://127.0.0.1:%%PORT_mock_hook%%/hooks/budget?z=tenants
        at=50,80,100 backoff=100ms;

    tier_router_budget_zone zone=flaky:1m;
    tier_router_budget_alert zone=flaky
        url=http://127.0.0.1:%%PORT_mock_flaky%%/flaky at=50
        retries=3 backoff=100ms;

    tier_router_budget_zone zone=dead:1m;
    tier_router_budget_alert zone=dead url=http://127.0.0.1:%%PORT_dead%%/
        at=50 retries=2 backoff=50ms;

    tier_router_budget_zone zone=slow:1m;
    tier_router_budget_alert zone=slow
        url=http://127.0.0.1:%%PORT_mock_slow%%/slow at=50
        timeout=1s retries=0;

    tier_router_budget_zone zone=reload:1m;
    tier_router_budget_alert zone=reload
        url=http://127.0.0.1:%%PORT_mock_reload%%/reload at=50
        timeout=10s;

    tier_router_budget_zone zone=tiny:1m;
    tier_router_budget_alert zone=tiny
        url=http://127.0.0.1:%%PORT_mock_tiny%%/tiny at=50 queue=1;

    tier_router_budget_zone zone=none:1m;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router_budget_clock $http_x_clock;

        location = /tenants/status {
            tier_router_status tenants;
        }

        location = /flaky/status {
            tier_router_status flaky;
        }

        location = /dead/status {
            tier_router_status dead;
        }

        location = /slow/status {
            tier_router_status slow;
        }

        location = /reload/status {
            tier_router_status reload;
        }

        location = /tiny/status {
            tier_router_status tiny;
        }

        location /tiny/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=tiny key=$http_authorization
                               limit=$http_x_limit;
            proxy_pass http://$tier_router_upstream;
        }

        location = /none/status {
            tier_router_status none;
        }

        location /tenants/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=tenants key=$http_authorization
                               limit=$http_x_limit label=$http_x_label;
            proxy_pass http://$tier_router_upstream;
        }

        location /flaky/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=flaky key=$http_authorization
                               limit=$http_x_limit;
            proxy_pass http://$tier_router_upstream;
        }

        location /dead/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=dead key=$http_authorization
                               limit=$http_x_limit;
            proxy_pass http://$tier_router_upstream;
        }

        location /slow/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=slow key=$http_authorization
                               limit=$http_x_limit;
            proxy_pass http://$tier_router_upstream;
        }

        location /reload/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=reload key=$http_authorization
                               limit=$http_x_limit;
            proxy_pass http://$tier_router_upstream;
        }

        location /none/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=none key=$http_authorization
                               limit=$http_x_limit;
            proxy_pass http://$tier_router_upstream;
        }
    }
}
EOF

$t->run;

my $JSON = JSON::PP->new->utf8->canonical;

# a request whose usage is in + out tokens, so in + out micro-dollars

sub spend {
    my (%o) = @_;

    return $t->http_post("/$o{zone}/v1/chat/completions",
        $JSON->encode({ model => 'auto', max_tokens => 100,
            messages => [{ role => 'user', content => 'Say hi.' }] }),
        'Authorization' => $o{key},
        'Content-Type' => 'application/json',
        'X-Limit' => $o{limit} // '0.01',
        'X-Clock' => $o{clock} // $NOV,
        ($o{label} ? ('X-Label' => $o{label}) : ()),
        'X-Mock-Input-Tokens' => $o{in},
        'X-Mock-Output-Tokens' => $o{out});
}

sub status {
    my ($zone, %o) = @_;

    my $r = $t->http_get("/$zone/status"
                         . ($o{format} ? "?format=$o{format}" : ''),
                         'X-Clock' => $o{clock} // $NOV);

    return $o{format} ? $r->{body} : $JSON->decode($r->{body});
}

sub posts { $t->webhook_posts($_[0]) }

sub wait_posts {
    my ($name, $n, $secs) = @_;
    return $t->wait_for(sub { @{posts($name)} >= $n }, $secs // 10);
}

sub wait_status {
    my ($zone, $cond, $secs) = @_;
    return $t->wait_for(sub { $cond->(status($zone)->{alerts}) }, $secs);
}

sub pause { select undef, undef, undef, $_[0] }


# the thresholds, one by one, each once

my $key = 'Bearer sk-alert-one-SECRET';

is(spend(zone => 'tenants', key => $key, label => 'acme', in => 3000,
         out => 2000)->{status}, 200, '50%: answered');
ok(wait_posts('hook', 1), '50%: the webhook is called');

my $p = posts('hook');
is(scalar @$p, 1, '50%: once');

my $a1 = $p->[0];
my $b = $a1->{body};

is($a1->{path}, '/hooks/budget?z=tenants', 'POSTed to the url, query kept');
is($a1->{content_type}, 'application/json', 'as JSON');
is($b->{type}, 'budget.threshold', 'type');
is($b->{zone}, 'tenants', 'zone');
is($b->{tenant}, 'acme', 'the tenant by its label');
is($b->{label}, 'acme', 'label');
like($b->{hash}, qr/^[0-9a-f]{32}$/, 'the key\'s keyed hash');
is($b->{threshold_percent}, 50, 'threshold');
is($b->{spent_micro_usd}, 5000, 'spent, exact');
is($b->{limit_micro_usd}, 10000, 'limit, exact');
is($b->{spent_usd}, 0.005, 'spent in dollars');
is($b->{period}, 'month', 'period');
is($b->{period_start}, 1793491200, 'period start: 2026-11-01');
is($b->{period_end}, 1796083200, 'period end: 2026-12-01');
is($b->{crossed_at}, $NOV, 'when, by the request\'s clock');
is($b->{attempt}, 1, 'first try');
like($b->{id}, qr/^[0-9a-f]{32}$/, 'an id');
is($a1->{idempotency_key}, $b->{id}, 'the id is the Idempotency-Key');
unlike($t->read_file('hook.log'), qr/sk-alert|SECRET|Bearer/,
    'the key is nowhere in the alert');

is(spend(zone => 'tenants', key => $key, in => 2000, out => 1000)
       ->{status}, 200, '80%: answered');
ok(wait_posts('hook', 2), '80%: called');

is(spend(zone => 'tenants', key => $key, in => 500, out => 500)
       ->{status}, 200, '90%: answered');

# the reservation fits (9000 + 100 + a third of the body), the answer
# reports more than was reserved: past the limit

is(spend(zone => 'tenants', key => $key, in => 1000, out => 1000)
       ->{status}, 200, 'past 100%: answered');
ok(wait_posts('hook', 3), '100%: called');

is(spend(zone => 'tenants', key => $key, in => 10, out => 10)->{status},
   429, 'then refused');

ok(wait_status('tenants', sub { $_[0]{pending} == 0 }), 'queue empty');
pause(0.3);

$p = posts('hook');
is(scalar @$p, 3, 'three alerts in all, none twice');
is_deeply([map { $_->{body}{threshold_percent} } @$p], [50, 80, 100],
    'at 50, 80 and 100');
is_deeply([map { $_->{body}{spent_micro_usd} } @$p], [5000, 8000, 11000],
    'each with the spend that reached it');
is(scalar(keys %{{ map { $_->{body}{id} => 1 } @$p }}), 3, 'three ids');

my $s = status('tenants');
is($s->{alerts}{sent}, 3, 'status: 3 sent');
is($s->{alerts}{queued}, 3, 'status: 3 queued');
is($s->{alerts}{failed}, 0, 'status: none failed');
is($s->{alerts}{pending}, 0, 'status: none pending');
is_deeply($s->{alerts}{at_percent}, [50, 80, 100], 'status: thresholds');
unlike($JSON->encode($s), qr/hooks|127\.0\.0\.1/,
    'status: the url is not shown');
is($s->{tenants}[0]{alerted_percent}, 100, 'status: the tenant\'s mark');

my $prom = status('tenants', format => 'prometheus');
my ($families, @problems) = TierRouter::Prometheus::parse($prom);
is_deeply(\@problems, [], 'prometheus: well formed, the alerts\' metrics '
          . 'too') or diag(join "\n", @problems);
like($prom, qr/^tier_router_zone_alerts_sent_total\{zone="tenants"\} 3$/m,
    'prometheus: sent');
like($prom, qr/^tier_router_zone_alerts_pending\{zone="tenants"\} 0$/m,
    'prometheus: pending');

ok(exists status('none')->{alerts} && !defined status('none')->{alerts},
   'a zone without alerts: null');
unlike(status('none', format => 'prometheus'), qr/alerts/,
       'and no alert metrics');

# two thresholds at once: both

spend(zone => 'tenants', key => 'Bearer sk-two', in => 4500, out => 4500);
ok(wait_posts('hook', 5), 'two thresholds in one answer: two alerts');
$p = posts('hook');
is_deeply([sort map { $_->{body}{threshold_percent} } @$p[3, 4]], [50, 80],
    'at 50 and at 80');
like($p->[3]{body}{tenant}, qr/^[0-9a-f]{32}$/,
    'no label: the tenant by its hash');

# no limit, or spend under the lowest threshold: nothing

spend(zone => 'tenants', key => 'Bearer sk-nolimit', limit => '',
      in => 90000, out => 0);
spend(zone => 'tenants', key => 'Bearer sk-low', in => 4000, out => 999);
pause(0.5);
is(scalar @{posts('hook')}, 5, 'no limit, or under 50%: no alert');

# a new period: the thresholds again, with new ids

is(spend(zone => 'tenants', key => $key, clock => $DEC, in => 3000,
         out => 2000)->{status}, 200, 'December: answered');
ok(wait_posts('hook', 6), 'December: 50% again');
$p = posts('hook')->[5]{body};
is($p->{period_start}, 1796083200, 'December\'s period');
isnt($p->{id}, $a1->{body}{id}, 'another id');
is($p->{spent_micro_usd}, 5000, 'December\'s spend only');

# a receiver that fails twice: retried with backoff, taken the third time

spend(zone => 'flaky', key => 'Bearer sk-flaky', in => 6000, out => 0);
ok(wait_status('flaky', sub { $_[0]{sent} == 1 }), 'flaky: sent at last');
$p = posts('flaky');
is(scalar @$p, 3, 'flaky: three tries');
is_deeply([map { $_->{status} } @$p], [500, 500, 200], 'two 500s, one 200');
is_deeply([map { $_->{body}{attempt} } @$p], [1, 2, 3], 'numbered');
is(scalar(keys %{{ map { $_->{idempotency_key} => 1 } @$p }}), 1,
    'one Idempotency-Key for all three');
$s = status('flaky')->{alerts};
is($s->{retried}, 2, 'flaky: 2 retries counted');
is($s->{failed}, 0, 'flaky: no failure');
like($t->error_log,
     qr/alert at 50% of zone "flaky" not taken .*HTTP 500.*again in 100ms/,
     'flaky: the retry is logged');
like($t->error_log,
     qr/alert at 50% of zone "flaky" not taken .*again in 200ms/,
     'flaky: the wait doubles');

# nobody listening: given up after its retries, counted, logged

spend(zone => 'dead', key => 'Bearer sk-dead', in => 6000, out => 0);
ok(wait_status('dead', sub { $_[0]{failed} == 1 }), 'dead: given up');
$s = status('dead')->{alerts};
is($s->{retried}, 2, 'dead: after 2 retries');
is($s->{sent}, 0, 'dead: none sent');
is($s->{pending}, 0, 'dead: nothing left in the queue');
ok($s->{last_failure} > 0, 'dead: when');
like($t->error_log,
     qr/zone "dead" not taken \(Couldn't connect.*after 3 tries: given up/,
     'dead: logged');

# a receiver that hangs: requests are served meanwhile, the try times out

spend(zone => 'slow', key => 'Bearer sk-slow', in => 6000, out => 0);
ok(wait_posts('slow', 1), 'slow: the receiver has the POST');

my $served = 0;

for (1 .. 10) {
    $served++ if spend(zone => 'none', key => "Bearer sk-$_", in => 1,
                       out => 1)->{status} == 200;
}

$s = status('slow')->{alerts};
is($served, 10, 'slow: ten requests served while the webhook hangs');
is($s->{pending}, 1, 'slow: and the alert is still in flight');
ok(wait_status('slow', sub { $_[0]{failed} == 1 }, 5),
   'slow: timed out, given up (retries=0)');
like($t->error_log, qr/zone "slow" not taken \(Timeout was reached/,
     'slow: a timeout');

# a reload while an alert is in flight: the new workers send it again

spend(zone => 'reload', key => 'Bearer sk-reload', in => 6000, out => 0);
ok(wait_posts('reload', 1), 'reload: the first try reached the receiver');
$t->reload;
ok(wait_status('reload', sub { $_[0]{sent} == 1 }, 10),
   'reload: sent by the new workers');
$p = posts('reload');
is(scalar @$p, 2, 'reload: sent again, once');
is($p->[0]{idempotency_key}, $p->[1]{idempotency_key},
   'reload: the same alert, the same key');
is(status('reload')->{alerts}{failed}, 0, 'reload: not a failure');

# a queue of one, taken by an alert in flight: the next is dropped,
# counted, logged, and its threshold stays marked

spend(zone => 'tiny', key => 'Bearer sk-tiny-1', in => 6000, out => 0);
ok(wait_posts('tiny', 1), 'queue=1: the first alert is in flight');
spend(zone => 'tiny', key => 'Bearer sk-tiny-2', in => 6000, out => 0);

# the answer may reach us before its worker's log phase has settled it
# (two workers: the status may be the other's), so wait for the drop
$t->wait_for(sub { status('tiny')->{alerts}{dropped} >= 1 }, 5);
$s = status('tiny');
is($s->{alerts}{dropped}, 1, 'queue=1: the second is dropped');
is($s->{alerts}{queued}, 1, 'queue=1: one queued');
is((grep { $_->{alerted_percent} == 50 } @{$s->{tenants}}) + 0, 2,
   'queue=1: both tenants marked');
like($t->error_log, qr/the alert queue of zone "tiny" is full/,
     'queue=1: logged');
ok(wait_status('tiny', sub { $_[0]{sent} == 1 }), 'queue=1: the first sent');
spend(zone => 'tiny', key => 'Bearer sk-tiny-2', in => 10, out => 0);
pause(0.3);
is(scalar @{posts('tiny')}, 1, 'queue=1: the dropped one is not sent late');

# the marks survive a restart through the state file: no alert twice

$t->stop;
$t->run;

spend(zone => 'tenants', key => $key, clock => $DEC, in => 1000, out => 0);
pause(0.5);
is(scalar @{posts('hook')}, 6, 'restart: 50% is not alerted again');
spend(zone => 'tenants', key => $key, clock => $DEC, in => 2000, out => 0);
ok(wait_posts('hook', 7), 'restart: 80% is');
is(posts('hook')->[6]{body}{threshold_percent}, 80, 'at 80');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log');

$t->stop;

# configuration errors

my %bad = (
    'url=ftp://x/' => qr/invalid url "ftp:\/\/x\/"/,
    'url=http://x/ at=90,80' => qr/invalid "at=90,80"/,
    'url=http://x/ at=0' => qr/invalid "at=0"/,
    'url=http://x/ at=1,2,3,4,5,6,7,8,9' => qr/invalid "at=1,2/,
    'url=http://x/ retries=21' => qr/invalid "retries=21"/,
    'url=http://x/ timeout=5ms' => qr/invalid time "timeout=5ms"/,
    'url=http://x/ queue=0' => qr/invalid "queue=0"/,
    'at=50' => qr/needs "zone=" and "url="/,
);

for my $args (sort keys %bad) {
    $t->write_config(<<"EOF", file => 'bad.conf');
http {
    tier_router_budget_zone zone=z:1m;
    tier_router_budget_alert zone=z $args;
}
EOF
    my ($rc, $out) = $t->test_config('bad.conf');
    ok($rc != 0 && $out =~ $bad{$args}, "refused: $args") or diag($out);
}

$t->write_config(<<"EOF", file => 'bad.conf');
http {
    tier_router_budget_alert zone=z url=http://x/;
    tier_router_budget_zone zone=z:1m;
}
EOF
my ($rc, $out) = $t->test_config('bad.conf');
like($out, qr/no "tier_router_budget_zone" "z" is defined before/,
     'refused: a zone not defined yet');

$t->write_config(<<"EOF", file => 'bad.conf');
http {
    tier_router_budget_zone zone=z:1m;
    tier_router_budget_alert zone=z url=http://x/;
    tier_router_budget_alert zone=z url=http://y/;
}
EOF
($rc, $out) = $t->test_config('bad.conf');
like($out, qr/zone "z" has its alerts already/, 'refused: twice for a zone');

done_testing;
