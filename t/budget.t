#!/usr/bin/perl

# Spend accounting and budgets through nginx + the module + mock models:
# costs per dialect (JSON and SSE, usage split across reads), the usage
# chunk asked for and stripped, aborts, broken and usage-less upstreams,
# limits, soft caps and budget-aware routing with an injected clock, the
# burst overshoot bound, the status page, and no key in any output.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use Socket;
use Time::HiRes qw(sleep time);
use POSIX qw(floor);

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

my $counts = $t->testdir . '/requests.log';

$t->mock($_, args => ['--count-file', $counts]) for qw(small mid frontier);

# 2026-11-15 12:00:00 UTC, mid-month; the month ends 2026-12-01 00:00:00

my $NOV15 = 1794744000;
my $DEC01 = 1796083200;

my $conf = <<'EOF';
worker_processes 2;

http {
    %%HTTP_DEFAULTS%%

    %%UPSTREAMS small mid frontier%%

    tier_router_tier small    model=small-model    upstream=small_up;
    tier_router_tier mid      model=mid-model      upstream=mid_up;
    tier_router_tier frontier model=frontier-model upstream=frontier_up;

    tier_router_price small-model    input=1   output=2;
    tier_router_price mid-model      input=10  output=20;
    tier_router_price frontier-model input=100 output=200 cached_input=50
                                     reasoning=400;

    tier_router_budget_zone zone=tenants:1m period=month
                            state=%%TESTDIR%%/state.json state_interval=1s;
    tier_router_budget_zone zone=tiny:32k period=month;
    tier_router_budget_zone zone=daily:32k period=day;
    tier_router_budget_zone zone=weekly:32k period=week;
    tier_router_budget_zone zone=forever:32k period=total;
    tier_router_budget_zone zone=shared:32k period=month limit=0.30;
    tier_router_budget_zone zone=evict:128k period=month;

    map $http_authorization $tenant_key {
        ""       $http_x_api_key;
        default  $http_authorization;
    }

    map $http_x_limit $limit {
        default  $http_x_limit;
    }

    # one clock for the whole test: admission and the status pages read
    # 2026-11-15 12:00:00 UTC unless a request names another time

    map $http_x_clock $clock {
        ""       1794744000;
        default  $http_x_clock;
    }

    log_format spend 'S id=$http_x_id t=$tier_router_tenant '
                     'cost=$tier_router_cost in=$tier_router_input_tokens '
                     'out=$tier_router_output_tokens '
                     'spend=$tier_router_tenant_spend '
                     'rem=$tier_router_budget_remaining '
                     'est=$tier_router_cost_estimated '
                     'tier=$tier_router_tier reason=$tier_router_reason '
                     'status=$status';

    access_log %%TESTDIR%%/spend.log spend;

    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Accept-Encoding "";

    server {
        listen 127.0.0.1:%%PORT_main%%;
        listen 127.0.0.1:%%PORT_h2%% http2;

        tier_router on;
        tier_router_override_header X-Tier;
        tier_router_budget_clock $clock;

        location /v1/ {
            tier_router_budget zone=tenants key=$http_authorization
                               limit=$limit label=$http_x_label;
            proxy_pass http://$tier_router_upstream;
        }

        location /soft/ {
            tier_router_budget zone=tenants key=$http_authorization
                               limit=$limit;
            tier_router_budget_soft 20% mid;
            tier_router_budget_soft 90% small;
            proxy_pass http://$tier_router_upstream;
        }

        location /strict/ {
            tier_router_budget zone=tenants key=$http_authorization
                               limit=$limit;
            tier_router_budget_fit reject;
            proxy_pass http://$tier_router_upstream;
        }

        location /pay/ {
            tier_router_budget zone=tenants key=$http_authorization
                               limit=$limit;
            tier_router_budget_fit reject;
            tier_router_budget_status 402;
            proxy_pass http://$tier_router_upstream;
        }

        location /tiny/ {
            tier_router_budget zone=tiny key=$http_authorization;
            proxy_pass http://$tier_router_upstream;
        }

        location /tiny-open/ {
            tier_router_budget zone=tiny key=$http_authorization;
            tier_router_budget_on_error open;
            proxy_pass http://$tier_router_upstream;
        }

        location /daily/ {
            tier_router_budget zone=daily key=$http_authorization limit=0;
            proxy_pass http://$tier_router_upstream;
        }

        location /weekly/ {
            tier_router_budget zone=weekly key=$http_authorization limit=0;
            proxy_pass http://$tier_router_upstream;
        }

        location /forever/ {
            tier_router_budget zone=forever key=$http_authorization limit=0;
            proxy_pass http://$tier_router_upstream;
        }

        location /shared/ {
            tier_router_budget zone=shared key=$http_authorization;
            tier_router_budget_fit reject;
            proxy_pass http://$tier_router_upstream;
        }

        location /buffered/ {
            tier_router_budget zone=tenants key=$http_authorization;
            proxy_buffering on;
            proxy_buffer_size 1k;
            proxy_buffers 4 1k;
            proxy_busy_buffers_size 2k;
            proxy_max_temp_file_size 1m;
            proxy_pass http://$tier_router_upstream;
        }

        location /redirect/ {
            tier_router_budget zone=tenants key=$http_authorization
                               label=redirect;
            proxy_intercept_errors on;
            error_page 502 = @fallback;
            proxy_pass http://$tier_router_upstream;
        }

        location @fallback {
            return 200 "fallback\n";
        }

        location /short/ {
            tier_router_budget zone=tenants key=$http_authorization
                               limit=$limit;
            tier_router_budget_max_output 100;
            tier_router_budget_fit reject;
            proxy_pass http://$tier_router_upstream;
        }

        # Anthropic clients send x-api-key: key on it when there is no
        # Authorization
        location /anthropic/ {
            tier_router_budget zone=tenants key=$tenant_key limit=$limit;
            proxy_pass http://$tier_router_upstream;
        }

        # proxy_set_header of its own: Accept-Encoding is not cleared
        location /gzip/ {
            tier_router_budget zone=tenants key=$http_authorization;
            proxy_set_header Connection "";
            proxy_pass http://$tier_router_upstream;
        }

        location /shared-key/ {
            tier_router_budget zone=tenants key=$http_authorization;
            tier_router_budget_empty_key allow;
            proxy_pass http://$tier_router_upstream;
        }

        location /evict/ {
            tier_router_budget zone=evict key=$http_authorization
                               limit=$limit;
            proxy_pass http://$tier_router_upstream;
        }

        location = /status-evict {
            tier_router off;
            tier_router_status evict;
        }

        location = /status-shared {
            tier_router off;
            tier_router_status shared;
        }

        location = /status {
            tier_router off;
            tier_router_status tenants;
        }

        location = /status-tiny {
            tier_router off;
            tier_router_status tiny;
        }
    }
}
EOF

$t->write_config($conf);
$t->run;

my $seq = 0;


# one request; returns the response and its access log line (a hashref)

sub call {
    my (%o) = @_;

    my $dialect = $o{dialect} // 'chat';
    my $path = $o{path} // '/v1/';
    my $id = $o{id} // 'r' . ++$seq;

    my %body = (model => $o{model} // 'frontier-model');
    my $text = $o{text} // 'Summarise: the cat sat on the mat.';

    if ($dialect eq 'responses') {
        $body{input} = $text;
        $body{max_output_tokens} = $o{max} // 1000;
        $path .= 'responses';

    } elsif ($dialect eq 'anthropic') {
        $body{messages} = [{ role => 'user', content => $text }];
        $body{max_tokens} = $o{max} // 1000;
        $path .= 'messages';

    } else {
        $body{messages} = [{ role => 'user', content => $text }];
        $body{max_tokens} = $o{max} // 1000;
        $path .= 'chat/completions';
    }

    $body{stream} = JSON::PP::true if $o{stream};
    $body{stream_options} = $o{stream_options} if $o{stream_options};
    $body{$_} = $o{extra}{$_} for keys %{$o{extra} // {}};

    my $key = exists $o{key} ? $o{key} : 'Bearer sk-test-default';

    my @h = (defined $key ? ('Authorization' => $key) : (),
             'X-Id' => $id,
             'X-Clock' => $o{clock} // $NOV15,
             'Content-Type' => 'application/json');

    push @h, 'X-Limit' => $o{limit} if defined $o{limit};
    push @h, @{$o{headers}} if $o{headers};

    my $r = $t->http_post($path, $J->encode(\%body), @h);
    $r->{json} = TierRouter::Test::json_decode($r->{body});

    return ($r, log_line($id, $o{nolog}));
}


sub log_line {
    my ($id, $nowait) = @_;

    my $deadline = time + ($nowait ? 0.3 : 5);

    while (1) {
        for my $l (split /\n/, $t->read_file('spend.log')) {
            next unless $l =~ /^S id=\Q$id\E /;
            my %f = $l =~ /(\w+)=(\S*)/g;
            $f{line} = $l;
            return \%f;
        }

        return {} if time > $deadline;
        sleep 0.02;
    }
}


sub status {
    my ($query, $path) = @_;

    my $r = $t->http_get(($path // '/status') . ($query // ''));
    return $r->{status} == 200 ? TierRouter::Test::json_decode($r->{body})
                               : undef;
}


sub tenant_of {
    my ($st, $hash) = @_;
    return (grep { $_->{hash} eq $hash } @{$st->{tenants}})[0];
}


# -- costs per dialect ------------------------------------------------------

# frontier: $100/M in, $200/M out, $50/M cached in, $400/M reasoning

my @mock = ('X-Mock-Input-Tokens' => 1000, 'X-Mock-Output-Tokens' => 500);

for my $dialect (qw(chat responses anthropic)) {
    for my $stream (0, 1) {
        my $name = "$dialect " . ($stream ? 'SSE' : 'JSON');

        my ($r, $l) = call(dialect => $dialect, stream => $stream,
                           headers => [@mock]);

        is($r->{status}, 200, "$name: 200");
        is($l->{cost}, '0.200000', "$name: 1000 in, 500 out at frontier "
           . "prices cost \$0.20") or diag($l->{line});
        is("$l->{in}/$l->{out}", '1000/500', "$name: tokens logged");
        is($l->{est}, '0', "$name: not estimated");

        ($r, $l) = call(dialect => $dialect, stream => $stream,
                        headers => [@mock, 'X-Mock-Cached-Tokens' => 400]);

        is($l->{cost}, '0.180000', "$name: 400 cached tokens at the cached "
           . "price") or diag($l->{line});

        ($r, $l) = call(dialect => $dialect, stream => $stream,
                        headers => [@mock, 'X-Mock-Split' => 7]);

        is($l->{cost}, '0.200000', "$name: usage split across many reads")
            or diag($l->{line});

        next if $dialect eq 'anthropic';

        ($r, $l) = call(dialect => $dialect, stream => $stream,
                        headers => [@mock, 'X-Mock-Reasoning-Tokens' => 100]);

        is($l->{cost}, '0.220000', "$name: 100 reasoning tokens of 500 at "
           . "the reasoning price") or diag($l->{line});
    }
}


# -- the usage chunk: asked for upstream, stripped unless the client asked -

{
    truncate $counts, 0;

    my ($r, $l) = call(stream => 1, headers => [@mock]);
    my @ev = TierRouter::Test::parse_sse($r->{body});

    my $req = (split /\n/, $t->read_file('requests.log'))[-1] // '';
    like($req, qr/^frontier \S+ 1 1$/,
         'stream without include_usage: the model was asked for usage');

    ok(!(grep { $_->{json} && $_->{json}{usage} } @ev),
       'stream without include_usage: no usage chunk reaches the client');
    ok((grep { $_->{data} eq '[DONE]' } @ev) && @ev > 3,
       'stream without include_usage: the rest of the stream is intact');
    is($l->{cost}, '0.200000', 'stream without include_usage: charged');

    ($r, $l) = call(stream => 1, headers => [@mock],
                    stream_options => { include_usage => JSON::PP::true });
    @ev = TierRouter::Test::parse_sse($r->{body});

    my ($u) = grep { $_->{json} && ref $_->{json}{usage} } @ev;
    ok($u && $u->{json}{usage}{prompt_tokens} == 1000,
       'stream with include_usage: the client gets its usage chunk');

    ($r, $l) = call(stream => 1, headers => [@mock],
                    stream_options => { include_usage => JSON::PP::false });
    $req = (split /\n/, $t->read_file('requests.log'))[-1] // '';
    like($req, qr/ 1 1$/, 'include_usage false: turned true upstream');
    @ev = TierRouter::Test::parse_sse($r->{body});
    ok(!(grep { $_->{json} && $_->{json}{usage} } @ev),
       'include_usage false: and stripped again');
}


# -- HTTP/2 clients are charged the same ------------------------------------

for my $stream (0, 1) {
    my $id = "h2-$stream";
    my $r = $t->http2('POST', '/v1/chat/completions', port => $t->port('h2'),
        headers => ['Authorization' => 'Bearer sk-test-h2', 'X-Id' => $id,
                    'X-Clock' => $NOV15, @mock],
        body => $J->encode({ model => 'frontier-model', max_tokens => 1000,
            ($stream ? (stream => JSON::PP::true) : ()),
            messages => [{ role => 'user', content => 'Hello' }] }));

    my $l = log_line($id);
    is($l->{cost}, '0.200000', 'HTTP/2, ' . ($stream ? 'SSE' : 'JSON')
       . ': the same cost') or diag($r->{status} . ' ' . ($l->{line} // ''));
}


# -- proxy_buffering on, with small buffers --------------------------------

for my $stream (0, 1) {
    my ($r, $l) = call(path => '/buffered/', stream => $stream,
                       headers => [@mock, 'X-Mock-Words' => 3000]);
    my @ev = TierRouter::Test::parse_sse($r->{body});

    is($l->{cost}, '0.200000', 'proxy_buffering on, '
       . ($stream ? 'SSE' : 'JSON') . ' through 1k buffers: the same cost')
        or diag($l->{line});

    ok(!$stream || (!(grep { $_->{json} && $_->{json}{usage} } @ev)
                    && $ev[-1]{data} eq '[DONE]'),
       'and a stream still loses only its usage chunk') if $stream;
}


# -- a client that does not read: the copies stop, the stream passes on ---

{
    my $body = $J->encode({ model => 'frontier-model', stream => JSON::PP::true,
        max_tokens => 200000,
        messages => [{ role => 'user', content => 'Write a long story.' }] });

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port('main'), Proto => 'tcp') or die "connect: $!";
    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 65536);
    print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: Bearer sk-test-slow\r\nX-Id: slow\r\n"
        . "X-Clock: $NOV15\r\nX-Mock-Words: 60000\r\n"
        . "X-Mock-Output-Tokens: 60000\r\nConnection: close\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";

    # not reading until the module has said it stopped copying: however
    # slowly a loaded machine fills the buffers, no luck in it
    $t->wait_for(sub { $t->error_log =~ /the client reads slowly/ }, 60);

    my $got = '';
    while (1) {
        my $n = sysread($s, $got, 1 << 20, length $got);
        last unless $n;
    }
    close $s;

    like($t->error_log, qr/the client reads slowly/,
         'a client that does not read: the module stops copying');
    like($got, qr/data: \[DONE\]\s*(0\r\n\r\n)?$/,
         'and the whole stream still arrives (' . length($got) . ' bytes)');

    my $l = log_line('slow');
    is($l->{out}, '60000', 'and its usage is still charged');
}


# -- no usage, broken streams, aborts ---------------------------------------

{
    my ($r, $l) = call(headers => ['X-Mock-Usage' => 'none']);

    is($l->{est}, '1', 'no usage in the answer: the cost is estimated');
    ok($l->{cost} > 0, "no usage: charged an estimate, never \$0 "
       . "($l->{cost})");

    ($r, $l) = call(stream => 1,
                    headers => ['X-Mock-Usage' => 'none',
                                'X-Mock-Words' => 300]);
    is($l->{est}, '1', 'no usage in a stream: estimated');
    ok($l->{out} >= 300, "no usage in a stream: output estimated from "
       . "the text seen ($l->{out} tokens for 300 words)");

    ($r, $l) = call(stream => 1, dialect => 'anthropic',
                    headers => ['X-Mock-Break-After' => 3,
                                'X-Mock-Input-Tokens' => 1000]);
    is($l->{est}, '1', 'broken Anthropic stream: estimated');
    is($l->{in}, '1000', 'broken Anthropic stream: the input from '
       . 'message_start is kept');

    ($r, $l) = call(headers => ['X-Mock-Status' => 500]);
    is($l->{cost}, '0.000000', 'an upstream error without usage is not '
       . 'charged');
    is($l->{est}, '0', 'and not estimated');

    # the client leaves mid-stream

    my $body = $J->encode({ model => 'frontier-model', stream => JSON::PP::true,
        max_tokens => 1000,
        messages => [{ role => 'user', content => 'Tell a long story.' }] });

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port('main'), Proto => 'tcp') or die "connect: $!";
    print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: Bearer sk-test-abort\r\nX-Id: abort\r\n"
        . "X-Clock: $NOV15\r\nX-Mock-Words: 100\r\n"
        . "X-Mock-Event-Delay-Ms: 50\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $got = '';
    while ($got !~ /data: .*\n\n.*data: /s) {
        my $n = sysread($s, $got, 4096, length $got);
        last unless $n;
    }
    close $s;

    $l = log_line('abort');
    is($l->{est}, '1', 'client abort mid-stream: settled as an estimate');
    ok(($l->{cost} // 0) > 0, "client abort: charged, never \$0 "
       . "($l->{cost})");
}


# -- an internal redirect drops the module's context: still settled ---------

{
    my ($r) = call(path => '/redirect/', key => 'Bearer sk-test-redirect',
                   headers => ['X-Mock-Status' => 502]);
    is($r->{body}, "fallback\n", 'error_page: the fallback answered');

    my ($tn, $deadline) = (undef, time + 5);

    do {
        sleep 0.05;
        ($tn) = grep { $_->{label} eq 'redirect' }
                @{status('?limit=1000')->{tenants}};
    } while ((!$tn || $tn->{in_flight}) && time < $deadline);

    ok($tn && $tn->{in_flight} == 0 && $tn->{reserved_micro_usd} == 0
       && $tn->{requests} == 1,
       'after an internal redirect the reservation is settled, not leaked');
}


# -- limits, refusals and the period's end ----------------------------------

{
    my $key = 'Bearer sk-test-limit-a';
    my ($r, $l, $spent, $refused);

    for my $i (1 .. 20) {
        ($r, $l) = call(key => $key, limit => '0.50', max => 500,
                        path => '/strict/',
                        headers => ['X-Mock-Output-Tokens' => 500]);

        if ($r->{status} != 200) {
            $refused = $r;
            last;
        }

        $spent = $l->{spend};
    }

    ok($refused, 'the hard limit refuses at last');
    is($refused->{status}, 429, 'with 429');
    TierRouter::Test::openai_error_ok($refused, 'budget refusal',
                                      'insufficient_quota');
    is($refused->{json}{error}{code}, 'budget_exceeded', 'code');
    is($refused->{headers}{'retry-after'}, $DEC01 - $NOV15,
       'Retry-After: until the month ends');
    is($refused->{headers}{'x-should-retry'}, 'false',
       'x-should-retry: false, so SDKs do not hammer the edge');
    ok($spent <= 0.5, "spend stays within the limit ($spent of 0.50)");

    ($r, $l) = call(key => $key, limit => '0.50', dialect => 'anthropic',
                    path => '/strict/');
    is($r->{status}, 429, 'Anthropic: refused too');
    TierRouter::Test::anthropic_error_ok($r, 'Anthropic budget refusal',
                                         'rate_limit_error');

    ($r, $l) = call(key => $key, limit => '0.50', clock => $DEC01 + 1);
    is($r->{status}, 200, 'a new month: the budget is back');
    ok($l->{spend} < 0.5 && $l->{spend} > 0,
       "and the spend restarts ($l->{spend})");

    # admitted before midnight, settled after another request of the new
    # month: both are charged to the new month, nothing is lost

    {
        my $k = 'Bearer sk-test-midnight';
        my $pid = fork // die "fork: $!";

        if ($pid == 0) {
            call(key => $k, clock => $DEC01 - 1, nolog => 1, id => 'late',
                 headers => ['X-Mock-Latency-Ms' => 600]);
            POSIX::_exit(0);
        }

        sleep 0.2;
        my (undef, $l2) = call(key => $k, clock => $DEC01 + 2);
        waitpid $pid, 0;

        my $l1 = log_line('late');
        my $st = status('?limit=1000');
        my ($tn) = grep { $_->{last_seen} == $DEC01 + 2 } @{$st->{tenants}};

        is(($tn // {})->{spent_micro_usd},
           int($l1->{cost} * 1e6 + 0.5) + int($l2->{cost} * 1e6 + 0.5),
           'a request settled across midnight: both costs in the new month');
    }

    # budget-aware routing: what cannot take frontier goes lower

    $key = 'Bearer sk-test-fit';
    ($r, $l) = call(key => $key, limit => '0.30', max => 500,
                    headers => ['X-Mock-Output-Tokens' => 500]);
    is($l->{tier}, 'frontier', 'fit: the first request on frontier');

    ($r, $l) = call(key => $key, limit => '0.30', max => 1000);
    is($r->{status}, 200, 'fit: the next does not fit frontier, served');
    isnt($l->{tier}, 'frontier', "fit: on a lower tier ($l->{tier})");
    like($l->{reason}, qr/budget_fit/, 'fit: the reason says why');

    ($r, $l) = call(key => $key, limit => '0.30', max => 1000,
                    path => '/pay/');
    is($r->{status}, 402, 'fit reject + status 402: refused instead');
    like($r->{json}{error}{message} // '', qr/cannot cover/,
         'fit reject: the message says the request does not fit');

    # soft thresholds: past 20% no frontier, past 90% small (the worst
    # case prices all output at frontier's reasoning price: $0.405)

    $key = 'Bearer sk-test-soft';
    ($r, $l) = call(key => $key, limit => '0.50', path => '/soft/',
                    max => 1000, headers => ['X-Mock-Output-Tokens' => 1000]);
    is($l->{tier}, 'frontier', 'soft: frontier below 20%');

    ($r, $l) = call(key => $key, limit => '0.50', path => '/soft/',
                    max => 100);
    is($l->{tier}, 'mid', "soft: mid past 20% ($l->{spend} spent)");
    like($l->{reason}, qr/budget_soft/, 'soft: the reason says why');
    like($r->{headers}{'x-tier-router-reason'} // '', qr/budget_soft/,
         'soft: and so does the header');

    # the periods' ends, in UTC

    my $WED11 = $NOV15 - 4 * 86400;     # Wednesday 2026-11-11 12:00

    ($r) = call(path => '/daily/', clock => $NOV15);
    is($r->{headers}{'retry-after'}, 43200, 'day: until midnight UTC');
    ($r) = call(path => '/weekly/', clock => $WED11);
    is($r->{headers}{'retry-after'}, 4 * 86400 + 43200,
       'week: until Monday 00:00 UTC');
    ($r) = call(path => '/weekly/', clock => $NOV15);
    is($r->{headers}{'retry-after'}, 43200, 'week: from a Sunday');
    ($r) = call(path => '/forever/');
    is($r->{status}, 429, 'total: refused');
    ok(!exists $r->{headers}{'retry-after'}, 'total: no Retry-After, it '
       . 'never resets');

    # the zone's own limit: tenants without one share it

    my $zone_refused;

    for my $i (1 .. 30) {
        ($r, $l) = call(key => "Bearer sk-test-shared-$i", path => '/shared/',
                        max => 100,
                        headers => ['X-Mock-Output-Tokens' => 100]);
        if ($r->{status} != 200) {
            $zone_refused = $i;
            last;
        }
    }

    my $sz = status('', '/status-shared');
    ok($zone_refused && $zone_refused > 5, "zone limit: refused at tenant "
       . ($zone_refused // '-') . ", none of whom has a limit");
    ok($sz->{spent_micro_usd} <= 300_000
       && $sz->{spent_micro_usd} > 300_000 - 46_700,
       "zone limit: spend $sz->{spent_micro_usd} of 300000 micro-dollars");
    is($sz->{limit_micro_usd}, 300_000, 'zone limit: in the status');

    # without max_tokens the worst case takes tier_router_budget_max_output

    my $nomax = $J->encode({ model => 'frontier-model',
        messages => [{ role => 'user', content => 'Hello' }] });
    my @h = ('Authorization' => 'Bearer sk-test-nomax', 'X-Limit' => '0.10',
             'X-Clock' => $NOV15, 'X-Mock-Output-Tokens' => 10);

    $r = $t->http_post('/strict/chat/completions', $nomax, @h);
    is($r->{status}, 429, 'no max_tokens: 4096 output tokens reserved, '
       . 'more than $0.10 covers');
    $r = $t->http_post('/short/chat/completions', $nomax, @h);
    is($r->{status}, 200, 'no max_tokens, tier_router_budget_max_output '
       . '100: fits');

    # an upstream writing past max_tokens: one request's error, no more

    my $over = 'Bearer sk-test-over';
    my ($spent_over, $served) = (0, 0);

    for my $i (1 .. 10) {
        ($r, $l) = call(key => $over, limit => '0.10', path => '/strict/',
                        max => 100,
                        headers => ['X-Mock-Output-Tokens' => 600]);
        last if $r->{status} != 200;
        $spent_over = $l->{spend};
        $served++;
    }

    # the first fits (its worst case $0.0467), costs $0.1229 and is the
    # last: the overshoot stays under its error, 500 tokens past
    # max_tokens at $200/M = $0.10

    is($served, 1, 'an upstream past max_tokens: nothing admitted after');
    ok($spent_over > 0.10 && $spent_over - 0.10 <= 0.10,
       "and the overshoot is at most that one request's error "
       . "($spent_over of 0.10)");
    diag("sequential overshoot with an upstream past max_tokens: \$"
         . sprintf('%.6f', $spent_over - 0.10) . " (its error: \$0.10)");

    # an invalid limit fails closed

    ($r, $l) = call(key => 'Bearer sk-test-bad', limit => '12,50');
    is($r->{status}, 500, 'an invalid limit from the map: 500, not a '
       . 'free pass');
}


# -- the burst: hundreds at once cannot overspend ---------------------------

sub burst {
    my ($n, $key, $limit, @extra) = @_;

    my $body = $J->encode({ model => 'frontier-model', max_tokens => 200,
        messages => [{ role => 'user', content => 'Classify: spam or not?' }] });

    my @socks;

    for my $i (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $t->port('main'), Proto => 'tcp') or die "$!";
        push @socks, $s;
    }

    for my $s (@socks) {
        my $h = join '', map { "$_\r\n" } @extra;
        syswrite $s, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            . "Authorization: $key\r\nX-Limit: $limit\r\nX-Label: burst\r\n"
            . "X-Clock: $NOV15\r\nX-Mock-Output-Tokens: 200\r\n"
            . "X-Mock-Latency-Ms: 300\r\n$h"
            . "Connection: close\r\nContent-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
    }

    my %status;
    my $sel = IO::Select->new(@socks);
    my %buf;
    my $deadline = time + 60;

    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(1)) {
            my $n = sysread($s, $buf{$s}, 65536, length($buf{$s} // ''));
            next if $n;
            $sel->remove($s);
            my ($code) = ($buf{$s} // '') =~ m{^HTTP/1\.\d (\d+)};
            $status{$code // 0}++;
            close $s;
        }
    }

    return \%status;
}

{
    # three waves of 300: the first admits what its worst cases allow,
    # the later ones what is left once the first have settled

    my $status = {};

    for (1 .. 3) {
        my $w = burst(300, 'Bearer sk-test-burst', '1.00');
        $status->{$_} += $w->{$_} for keys %$w;
    }

    # a client may see the end of its answer before nginx settles it

    my ($st, $b);
    my $deadline = time + 10;

    do {
        sleep 0.1;
        $st = status('?limit=1000');
        ($b) = grep { $_->{label} eq 'burst' } @{$st->{tenants}};
    } while ($b && $b->{in_flight} && time < $deadline);

    ok(($status->{200} // 0) > 10 && ($status->{429} // 0) > 10,
       "bursts of 300: some served, the rest refused (" . join(', ',
       map { "$_: $status->{$_}" } sort keys %$status) . ")");
    ok($b, 'burst: the tenant is in the status');
    my $over = $b ? $b->{spent_micro_usd} - 1_000_000 : 1e9;
    ok($over <= 0, "burst: spend $b->{spent_micro_usd} of 1000000 "
       . "micro-dollars, overshoot " . ($over > 0 ? $over : 0));
    is($b->{reserved_micro_usd}, 0, 'burst: every reservation settled');
    diag("burst overshoot: " . ($over > 0 ? $over : 0) . " micro-dollars, "
         . "$status->{200} served, " . ($status->{429} // 0) . " refused");
}


# -- the status page ----------------------------------------------------------

{
    call(key => 'Bearer sk-test-label', headers => ['X-Label' => 'acme']);

    my $st = status();
    ok($st && $st->{period} eq 'month' && $st->{tenants_total} >= 5,
       "status: JSON with the zone ($st->{tenants_total} tenants)");

    my @spent = map { $_->{spent_micro_usd} } @{$st->{tenants}};
    is_deeply(\@spent, [sort { $b <=> $a } @spent],
              'status: tenants sorted by spend');

    my $page = status('?limit=2&offset=1');
    is(scalar @{$page->{tenants}}, 2, 'status: limit');
    is($page->{tenants}[0]{hash}, $st->{tenants}[1]{hash}, 'status: offset');

    ok((grep { $_->{label} eq 'acme' } @{$st->{tenants}}),
       'status: the operator\'s label');

    my ($frontier) = grep { $_->{name} eq 'frontier' } @{$st->{tiers}};
    ok($frontier->{requests} > 10 && $frontier->{cost_micro_usd} > 0,
       'status: per-tier requests and cost');
    ok(defined $st->{estimated_share} && $st->{estimated_share} > 0
       && $st->{estimated_share} < 0.2,
       "status: the estimated share ($st->{estimated_share})");

    my $p = $t->http_get('/status?format=prometheus');
    like($p->{body}, qr/^tier_router_zone_spend_dollars\{zone="tenants"\} \d+\.\d{6}$/m,
         'prometheus: zone spend');
    like($p->{body}, qr/^tier_router_tier_requests_total\{zone="tenants",
                         tier="frontier",[^}]*\}\ \d+$/mx,
         'prometheus: per tier');
    like($p->{body}, qr/^tier_router_tenant_spend_dollars\{zone="tenants",tenant="acme"\} /m,
         'prometheus: a tenant by its label');
    like($p->{body}, qr/^tier_router_tenant_spend_dollars\{zone="tenants",tenant="[0-9a-f]{32}"\} /m,
         'prometheus: a tenant by its hash');

    is($t->http_get('/status?limit=x')->{status}, 400, 'status: bad limit');
}


# -- the zone full: logged, refused or let through as configured ----------

{
    my ($r, $l, $full);

    for my $i (1 .. 400) {
        ($r, $l) = call(key => "Bearer sk-test-tiny-$i", path => '/tiny/',
                        model => 'small-model');
        if ($r->{status} != 200) {
            $full = $i;
            last;
        }
    }

    ok($full && $full > 20, "the 32k zone fills after "
       . (($full // 1) - 1) . " tenants");
    is($r->{status}, 503, 'zone full, on_error closed: 503');
    like($t->error_log, qr/zone "tiny" is full/, 'zone full: logged');

    ($r, $l) = call(key => "Bearer sk-test-tiny-1", path => '/tiny/',
                    model => 'small-model');
    is($r->{status}, 200, 'zone full: a known tenant is still served');

    my $t0 = time;
    call(key => "Bearer sk-test-tiny-flood-$_", path => '/tiny-open/',
         model => 'small-model', nolog => 1) for 1 .. 30;
    my $logged = () = $t->error_log =~ /zone "tiny" is full/g;
    ok($logged <= 2 * (int(time - $t0) + 2),
       "a flood of 30 new keys: \"is full\" logged $logged times, at most "
       . "once a second per worker");

    ($r, $l) = call(key => "Bearer sk-test-tiny-new", path => '/tiny-open/',
                    model => 'small-model');
    is($r->{status}, 200, 'zone full, on_error open: served');
    like($l->{reason}, qr/budget_unaccounted/, 'and marked unaccounted');

    my $st = status('', '/status-tiny');
    ok($st->{unaccounted} >= 1, 'and counted in the status '
       . "(unaccounted: $st->{unaccounted})");
    like($t->error_log, qr/"tiny" has no room for the tenant: the request/,
         'and logged');
    is($st->{tenants_total}, $full - 1, 'no tenant with spend was evicted');

    ($r, $l) = call(key => "Bearer sk-test-tiny-next", path => '/tiny/',
                    model => 'small-model', clock => $DEC01 + 10);
    is($r->{status}, 200, 'a new period: idle tenants make room');
}


# -- a client that accepts gzip, an upstream that sends it ---------------------

{
    my @gz = (@mock, 'Accept-Encoding' => 'gzip, deflate, br');

    my ($r, $l) = call(path => '/gzip/', stream => 1, headers => [@gz]);
    my @ev = TierRouter::Test::parse_sse($r->{body});

    ok(!$r->{headers}{'content-encoding'} && @ev > 3,
       'gzip accepted, stream: the upstream was asked for identity, the '
       . 'stream reaches the client readable');
    ok(!(grep { $_->{json} && $_->{json}{usage} } @ev),
       'gzip accepted, stream: the usage chunk the module asked for is '
       . 'stripped');
    is($l->{cost} . ' ' . $l->{est}, '0.200000 0',
       'gzip accepted, stream: charged from the usage read (1000 in, '
       . '500 out), not estimated');

    ($r, $l) = call(path => '/gzip/', dialect => 'anthropic',
                    headers => [@gz]);
    is($l->{cost} . ' ' . $l->{est}, '0.200000 0',
       'gzip accepted, Anthropic JSON: charged from its usage');

    ($r) = call(path => '/gzip/', headers => [@gz, 'X-Mock-Echo' => 1]);
    is($r->{headers}{'x-mock-request-accept-encoding'}, 'identity',
       'what the upstream is sent: Accept-Encoding: identity');

    ($r) = call(path => '/gzip/', headers => ['X-Mock-Echo' => 1]);
    is($r->{headers}{'x-mock-request-accept-encoding'}, 'identity',
       'and so without any from the client');

    # an upstream that compresses all the same: never under-counted

    $t->log_mark;
    ($r, $l) = call(path => '/gzip/', stream => 1, max => 1000,
                    headers => [@gz, 'X-Mock-Gzip' => 'always']);
    is($r->{headers}{'content-encoding'}, 'gzip',
       'an upstream that gzips regardless: passed on as it is');
    is($l->{cost} . ' ' . $l->{est}, '0.404500 1',
       'and charged its worst case (1000 tokens at the reasoning price, '
       . 'its input at the body\'s bytes / 3), estimated');
    like($t->log_since, qr/answered "gzip" encoded although identity/,
         'with a warning');
}


# -- the output limit each API reads, and no other ----------------------------

{
    my ($r, $l) = call(key => 'Bearer sk-test-limits', dialect => 'anthropic',
                       max => 2000, extra => { max_completion_tokens => 1 });
    is($r->{status}, 400, 'messages with max_tokens 2000 and '
       . 'max_completion_tokens 1: 400');
    TierRouter::Test::anthropic_error_ok($r, 'conflicting limits',
                                         'invalid_request_error');
    like($r->{json}{error}{message} // '', qr/'max_tokens' only/,
         'conflicting limits: the message says which one counts');

    ($r) = call(key => 'Bearer sk-test-limits', max => 2000,
                extra => { max_completion_tokens => 1 });
    is($r->{status}, 400, 'chat: max_tokens and max_completion_tokens '
       . 'disagree: 400');
    is($r->{json}{error}{param}, 'max_completion_tokens', 'with its param');

    my %body = (model => 'frontier-model', max_output_tokens => 1,
                messages => [{ role => 'user', content => 'Hi.' }]);
    $r = $t->http_post('/v1/chat/completions', $J->encode(\%body),
                       'Authorization' => 'Bearer sk-test-limits',
                       'Content-Type' => 'application/json');
    is($r->{status}, 400, 'chat with max_output_tokens alone: 400');

    # what is read is what is reserved: 2000 output tokens at frontier's
    # $400/M reasoning price do not fit $0.30, 1 would

    ($r) = call(key => 'Bearer sk-test-limits-2', dialect => 'anthropic',
                path => '/strict/', limit => '0.30', max => 2000);
    is($r->{status}, 429, 'messages, max_tokens 2000: its worst case is '
       . 'reserved, and refused under $0.30');

    ($r) = call(key => 'Bearer sk-test-limits-2', dialect => 'responses',
                path => '/strict/', limit => '0.30', max => 2000);
    is($r->{status}, 429, 'responses, max_output_tokens 2000: the same');

    ($r) = call(key => 'Bearer sk-test-limits-2', path => '/strict/',
                limit => '0.30', max => 2000,
                extra => { max_completion_tokens => 2000 });
    is($r->{status}, 429, 'chat, both fields at 2000: the same');
}


# -- spent, or only held by requests in flight --------------------------------

{
    my $key = 'Bearer sk-test-inflight';

    # one request's worst case ($0.405 at frontier) fits $0.50, two do not

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        call(key => $key, path => '/strict/', limit => '0.50', nolog => 1,
             id => 'slow-1', headers => ['X-Mock-Latency-Ms' => 800,
                                         'X-Mock-Output-Tokens' => 10]);
        POSIX::_exit(0);
    }

    sleep 0.3;

    my ($r, $l) = call(key => $key, path => '/strict/', limit => '0.50',
                       headers => ['X-Mock-Output-Tokens' => 10]);
    is($r->{status}, 429, 'held by a request in flight: 429');
    is($r->{json}{error}{code}, 'budget_reserved', 'with its own code');
    like($r->{json}{error}{message} // '', qr/held by requests in flight/,
         'and message');
    is($r->{headers}{'x-should-retry'}, 'true', 'x-should-retry: true');
    is($r->{headers}{'retry-after'}, 1, 'Retry-After: 1, not the month');
    like($l->{reason}, qr/budget_reserved/, 'the reason says so');

    ($r) = call(key => $key, path => '/strict/', limit => '0.50',
                dialect => 'anthropic',
                headers => ['X-Mock-Output-Tokens' => 10]);
    TierRouter::Test::anthropic_error_ok($r, 'held, Anthropic',
                                         'rate_limit_error');

    waitpid $pid, 0;
    sleep 0.1;

    ($r) = call(key => $key, path => '/strict/', limit => '0.50',
                headers => ['X-Mock-Output-Tokens' => 10]);
    is($r->{status}, 200, 'once the first has settled, the same request '
       . 'is served');

    ($r, $l) = call(key => 'Bearer sk-test-spent', path => '/strict/',
                    limit => '0');
    is($r->{json}{error}{code}, 'budget_exceeded', 'spent: budget_exceeded');
    is($r->{headers}{'x-should-retry'}, 'false', 'spent: not to be retried');
    like($l->{reason}, qr/budget_spent/, 'spent: the reason says so');
}


# -- a request with no key is no tenant ---------------------------------------

{
    my ($r, $l) = call(key => undef);
    is($r->{status}, 401, 'no Authorization under key=$http_authorization: '
       . '401');
    TierRouter::Test::openai_error_ok($r, 'no key', 'invalid_request_error');
    like($r->{json}{error}{message} // '', qr/no API key/, 'says why');

    ($r) = call(key => undef, dialect => 'anthropic');
    is($r->{status}, 401, 'Anthropic without a key: 401');
    TierRouter::Test::anthropic_error_ok($r, 'no key, Anthropic',
                                         'authentication_error');

    ($r, $l) = call(key => '', path => '/shared-key/');
    is($r->{status}, 200, 'tier_router_budget_empty_key allow: served');
    my ($r2, $l2) = call(key => undef, path => '/shared-key/');
    is($l2->{t}, $l->{t}, 'and every request without a key is one tenant');

    # the Anthropic convention: x-api-key, keyed by the example's map

    my ($a, $la) = call(key => undef, dialect => 'anthropic',
                        path => '/anthropic/',
                        headers => ['x-api-key' => 'sk-ant-one']);
    my ($b, $lb) = call(key => undef, dialect => 'anthropic',
                        path => '/anthropic/',
                        headers => ['x-api-key' => 'sk-ant-two']);
    is($a->{status} . $b->{status}, '200200', 'x-api-key clients are served');
    ok($la->{t} && $lb->{t} && $la->{t} ne $lb->{t},
       'each x-api-key its own tenant');
}


# -- eviction finds an idle tenant wherever it is ----------------------------

{
    my ($r, $l, $n, %status);

    for my $i (1 .. 70) {
        ($r) = call(key => "Bearer sk-evict-pay-$i", path => '/evict/',
                    model => 'small-model', nolog => 1);
        $n++ if $r->{status} == 200;
    }

    is($n, 70, '70 paying tenants in a 32k zone');

    # a spray of keys that never pay (refused): zero-spend tenants

    for my $i (1 .. 600) {
        ($r) = call(key => "Bearer sk-evict-spray-$i", path => '/evict/',
                    limit => '0', nolog => 1);
        $status{$r->{status}}++;
    }

    is($status{429}, 600, 'a spray of 600 keys that cannot pay (more than '
       . 'the zone holds): each refused by its budget, none by a full zone ('
       . join(', ', map { "$_: $status{$_}" } sort keys %status) . ')');

    my $st = status('?limit=1000', '/status-evict');
    my $room = $st->{tenants_total};
    ok($st->{evicted} > 0 && $room < 670, "the zone is full ($room tenants), "
       . "the oldest sprayed ones let go ($st->{evicted})");

    %status = ();

    for my $i (1 .. 100) {
        ($r) = call(key => "Bearer sk-evict-new-$i", path => '/evict/',
                    model => 'small-model', nolog => 1);
        $status{$r->{status}}++;
    }

    is($status{200}, 100, '100 new paying tenants after it: all served, '
       . 'though the 64 least recently seen tenants all have spend');

    $st = status('?limit=1000', '/status-evict');
    is(scalar(grep { $_->{spent_micro_usd} > 0 } @{$st->{tenants}}), 170,
       'no tenant with spend was evicted: 70 + 100 with spend');
}


# -- no key anywhere ----------------------------------------------------------

{
    my $key = 'sk-test-SECRET-f00dcafe';
    call(key => "Bearer $key");
    sleep 1.5;

    my %out = (
        'access log' => $t->read_file('spend.log'),
        'error log' => $t->error_log,
        'status JSON' => $t->http_get('/status?limit=1000')->{body},
        'status Prometheus' =>
            $t->http_get('/status?format=prometheus&limit=1000')->{body},
        'state file' => $t->read_file('state.json'),
    );

    ok(length $out{'state file'}, 'the state file is written');

    for my $k (sort keys %out) {
        unlike($out{$k}, qr/SECRET|sk-test/, "no key in the $k");
    }
}

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');

$t->stop;

done_testing;
