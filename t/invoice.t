#!/usr/bin/perl

# Spend that matches the invoice, through nginx + the module + mock
# models: every part of a bill the providers send (cache writes, for 5
# minutes and for an hour, web searches, long-context prices, service
# tiers, a region's uplift, the model that actually answered), to the
# micro-dollar, in a JSON answer and in each of the three stream formats.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;

my $t = TierRouter::Test->new;

$t->mock($_) for qw(gpt claude);

$t->write_config(<<'EOF');
worker_processes 1;

http {
    %%HTTP_DEFAULTS%%

    upstream gpt_up { server 127.0.0.1:%%PORT_mock_gpt%%; }
    upstream claude_up { server 127.0.0.1:%%PORT_mock_claude%%; }

    tier_router_ladder openai api=openai {
        tier gpt model=gpt-x upstream=gpt_up;
        tier big model=gpt-big upstream=gpt_up;
    }

    tier_router_ladder small api=openai {
        tier gpt-small model=gpt-s upstream=gpt_up;
    }

    tier_router_ladder anthropic api=anthropic {
        tier claude model=claude-x upstream=claude_up;
    }

    # $2.50 in, $1.25 cached, $10 out; flex and priority as the provider's
    tier_router_price gpt-x input=2.50 cached_input=1.25 output=10
                      flex=0.5 priority=2;

    # a model with a context window of 10000 tokens
    tier_router_price gpt-s input=2.50 output=10 context=10000;

    # what a client of the shadow location asks for by name
    tier_router_price gpt-named input=20 output=80;

    # the ladder's top: what an "auto" request is compared with
    tier_router_price gpt-big input=20 output=80;

    # a dated snapshot the provider answers as, dearer
    tier_router_price gpt-x-2026-01-01 input=5 output=20;

    # $3 in, $0.30 read, $15 out; long context over 200000 at $6 / $22.50;
    # searches at $10 per 1000; an EU region at 1.1x
    tier_router_price claude-x input=3 cached_input=0.30 output=15
                      above=200000 above_input=6 above_output=22.50
                      web_search=10 region=1.1;

    tier_router_budget_zone zone=tenants:1m period=total;
    tier_router_budget_zone zone=monthly:1m period=month;

    log_format inv 'I id=$http_x_id cost=$tier_router_cost '
                   'base=$tier_router_baseline_cost '
                   'shadow=$tier_router_shadow_cost tier=$tier_router_tier '
                   'model=$tier_router_model reason=$tier_router_reason '
                   'in=$tier_router_input_tokens '
                   'in=$tier_router_input_tokens out=$tier_router_output_tokens';
    access_log %%TESTDIR%%/inv.log inv;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router_budget zone=tenants key=$http_authorization
                           limit=$http_x_limit;

        # each tenant's own budget, as the budget here names it
        location = /v1/budget {
            tier_router_balance;
        }

        location = /monthly/budget {
            tier_router_budget zone=monthly key=$http_authorization;
            tier_router_budget_clock $http_x_clock;
            tier_router_balance;
        }

        location = /status {
            tier_router_status tenants;
        }

        # the cost back to the caller, in the answer's usage
        location /report/v1/messages {
            tier_router on;
            tier_router_use anthropic;
            tier_router_report_cost on;
            proxy_pass http://$tier_router_upstream;
        }

        location /report/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_report_cost on;
            proxy_pass http://$tier_router_upstream;
        }

        location /report-fb/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_report_cost on;
            tier_router_fallback http_503;
            proxy_pass http://$tier_router_upstream;
        }

        # what routing would do, and nothing done
        location /shadow/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_shadow on;
            tier_router_unknown_model route;
            proxy_pass http://gpt_up;
        }

        location = /shadow/budget {
            tier_router_balance;
        }

        location /base/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_baseline gpt;
            proxy_pass http://$tier_router_upstream;
        }

        location /bg/v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget_background worst;
            proxy_pass http://$tier_router_upstream;
        }

        location /small/v1/ {
            tier_router on;
            tier_router_use small;
            proxy_pass http://$tier_router_upstream;
        }

        location /v1/messages {
            tier_router on;
            tier_router_use anthropic;
            proxy_pass http://$tier_router_upstream;
        }

        location /v1/ {
            tier_router on;
            tier_router_use openai;
            proxy_pass http://$tier_router_upstream;
        }
    }
}
EOF

$t->run;

my $n = 0;

sub cost_of {
    my ($path, $body, @h) = @_;
    my $id = 'i' . ++$n;

    my $max = $path =~ /responses/ ? 'max_output_tokens' : 'max_tokens';
    my $r = $t->post_json($path, { $max => 100, %$body },
        'Authorization' => 'Bearer sk-inv', 'X-Id' => $id, @h);
    my $e = $t->log_entry('inv.log', 'I', $id);

    return ($e->{cost} // 'none', $r);
}

my %chat = (model => 'auto', messages => [{ role => 'user',
                                            content => 'Say hi.' }]);
my %resp = (model => 'auto', input => 'Say hi.');
my %msgs = %chat;

my @cases = (

    # OpenAI: 5000 in, 1000 cached ($1.25), 3000 written (1.25 x 2.50), 20
    # out: 1250 + 9375 + 2500 + 200 = 13325

    ['chat: cache writes at 1.25x input', '/v1/chat/completions', \%chat,
     [qw(X-Mock-Input-Tokens 5000 X-Mock-Cached-Tokens 1000
         X-Mock-Cache-Write-Tokens 3000 X-Mock-Output-Tokens 20)],
     '0.013325'],
    ['chat: flex at 0.5x', '/v1/chat/completions', \%chat,
     [qw(X-Mock-Input-Tokens 5000 X-Mock-Cached-Tokens 1000
         X-Mock-Cache-Write-Tokens 3000 X-Mock-Output-Tokens 20
         X-Mock-Service-Tier flex)],
     '0.006663'],
    ['responses: priority at 2x', '/v1/responses', \%resp,
     [qw(X-Mock-Input-Tokens 5000 X-Mock-Cached-Tokens 1000
         X-Mock-Cache-Write-Tokens 3000 X-Mock-Output-Tokens 20
         X-Mock-Service-Tier priority)],
     '0.026650'],
    ['chat: default tier at 1x', '/v1/chat/completions', \%chat,
     [qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100
         X-Mock-Service-Tier default)],
     '0.003500'],

    # the model that answered: 1000 in at $5, 100 out at $20

    ['chat: charged at the model that answered', '/v1/chat/completions',
     \%chat, [qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100
                 X-Mock-Answer-Model gpt-x-2026-01-01)],
     '0.007000'],
    ['chat: an unpriced answering model: the tier\'s price',
     '/v1/chat/completions', \%chat,
     [qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100
         X-Mock-Answer-Model gpt-x-unknown)],
     '0.003500'],

    # Anthropic: 3510 in: 500 read ($0.30), 3000 written of which 2000 for
    # an hour ($3.75 / $6), 10 plain; 80 out: 150 + 3750 + 12000 + 30 +
    # 1200 = 17130, x 1.1 = 18843

    ['messages: 5-minute and 1-hour writes, in the EU', '/v1/messages',
     \%msgs, [qw(X-Mock-Input-Tokens 3510 X-Mock-Cached-Tokens 500
                 X-Mock-Cache-Write-Tokens 3000 X-Mock-Cache-1h-Tokens 2000
                 X-Mock-Output-Tokens 80)],
     '0.018843'],

    # + 3 searches at $0.01: 47130 x 1.1 = 51843

    ['messages: web searches', '/v1/messages', \%msgs,
     [qw(X-Mock-Input-Tokens 3510 X-Mock-Cached-Tokens 500
         X-Mock-Cache-Write-Tokens 3000 X-Mock-Cache-1h-Tokens 2000
         X-Mock-Output-Tokens 80 X-Mock-Web-Search 3)],
     '0.051843'],

    # long context: 250000 in at $6, 1000 out at $22.50: 1522500 x 1.1

    ['messages: over 200000 input, all of it at the long prices',
     '/v1/messages', \%msgs,
     [qw(X-Mock-Input-Tokens 250000 X-Mock-Output-Tokens 1000)],
     '1.674750'],
    ['messages: 200000 input, not over', '/v1/messages', \%msgs,
     [qw(X-Mock-Input-Tokens 200000 X-Mock-Output-Tokens 1000)],
     '0.676500'],

    # batch at the default 0.5x: 1000 x 3 + 100 x 15 = 4500, x 0.5 x 1.1

    ['messages: batch at 0.5x', '/v1/messages', \%msgs,
     [qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100
         X-Mock-Service-Tier batch)],
     '0.002475'],
);

for my $c (@cases) {
    my ($name, $path, $body, $h, $want) = @$c;

    for my $stream (0, 1) {
        my %b = %$body;
        $b{stream} = JSON::PP::true() if $stream;
        $b{stream_options} = { include_usage => JSON::PP::true() }
            if $stream && $path =~ /chat/;

        my ($cost, $r) = cost_of($path, \%b, @$h);
        is($r->{status}, 200, "$name" . ($stream ? ', streamed' : '')
           . ': 200');
        is($cost, $want, "$name" . ($stream ? ', streamed' : '') . ": $want");
    }
}

# -- what routing saved: the same answer at the baseline's price --------------

sub logged {
    my ($path, $body, @h) = @_;
    my $id = 'b' . ++$n;
    my $max = $path =~ /responses/ ? 'max_output_tokens' : 'max_tokens';

    $t->post_json($path, { $max => 100, %$body },
        'Authorization' => 'Bearer sk-save', 'X-Id' => $id, @h);
    return $t->log_entry('inv.log', 'I', $id);
}

my $e = logged('/v1/chat/completions', \%chat,
               qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100));
is($e->{cost}, '0.003500', 'savings: routed to gpt at $2.50 / $10');
is($e->{base}, '0.028000', 'savings: the baseline, the ladder\'s top tier '
   . '(gpt-big at $20 / $80), for the same tokens');

$e = logged('/v1/chat/completions', { %chat, stream => JSON::PP::true(),
            stream_options => { include_usage => JSON::PP::true() } },
            qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100));
is($e->{base}, '0.028000', 'savings: streamed, the same');

$e = logged('/base/v1/chat/completions', \%chat,
            qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100));
is($e->{base}, '0.003500', 'tier_router_baseline gpt: compared with gpt '
   . 'itself, nothing saved');

my $st = eval { decode_json($t->http_get('/status')->{body}) } // {};
my ($save) = grep { $_->{label} eq '' && $_->{spent_micro_usd} == 10500 }
             @{ $st->{tenants} // [] };
is($save->{baseline_micro_usd}, 28000 * 2 + 3500,
   'status: the tenant\'s baseline, summed (59500)');
my ($gpt) = grep { $_->{name} eq 'gpt' } @{ $st->{tiers} // [] };
cmp_ok($gpt->{baseline_micro_usd}, '>=', 59500,
       'status: the tier\'s baseline, summed');
cmp_ok($st->{baseline_micro_usd}, '>=', 59500, 'status: the zone\'s');

my $prom = $t->http_get('/status?format=prometheus')->{body};
like($prom, qr/^tier_router_zone_baseline_dollars\{zone="tenants"\} \d+\.\d{6}$/m,
     'prometheus: the zone\'s baseline');
like($prom, qr/^tier_router_tier_baseline_dollars_total\{zone="tenants",
               tier="gpt",[^}]*\}\ \d+\.\d{6}$/mx,
     'prometheus: the tier\'s');
like($prom, qr/^tier_router_tenant_baseline_dollars\{zone="tenants",tenant="[^"]+"\} 0\.059500$/m,
     'prometheus: the tenant\'s, 0.059500');

# -- the cost back to the caller: usage.cost ---------------------------------

sub sse_json {
    my ($body) = @_;
    return map { eval { decode_json($_) } // () }
           $body =~ /^data: (\{.*\})$/mg;
}

my @tok = qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100);
my $r;

for my $loc ('/report/v1/', '/report-fb/v1/') {
    my $id = 'rc' . ++$n;
    $r = $t->post_json("${loc}chat/completions", { %chat, max_tokens => 100 },
        'Authorization' => 'Bearer sk-report', 'X-Id' => $id, @tok);
    my $j = eval { decode_json($r->{body}) } // {};
    my $l = $t->log_entry('inv.log', 'I', $id);
    is($j->{usage}{cost}, 0.0035, "$loc chat: usage.cost, in dollars");
    is(sprintf('%.6f', $j->{usage}{cost} // 0), $l->{cost},
       "$loc chat: ... what the tenant is charged");
    is($j->{usage}{prompt_tokens}, 1000, "$loc chat: the usage as it was");
    ok(!defined $r->{headers}{'content-length'}
       || $r->{headers}{'content-length'} == length $r->{body},
       "$loc chat: a length that is the body's");
}

$r = $t->post_json('/report/v1/chat/completions', { %chat, max_tokens => 100,
    stream => JSON::PP::true(),
    stream_options => { include_usage => JSON::PP::true() } },
    'Authorization' => 'Bearer sk-report', @tok);
my ($last) = grep { $_->{usage} } sse_json($r->{body});
is($last->{usage}{cost}, 0.0035, 'chat stream: the usage chunk has the cost');

$r = $t->post_json('/report/v1/responses', { %resp, max_output_tokens => 100,
    stream => JSON::PP::true() }, 'Authorization' => 'Bearer sk-report',
    @tok);
my ($done) = grep { ($_->{type} // '') eq 'response.completed' }
             sse_json($r->{body});
is($done->{response}{usage}{cost}, 0.0035,
   'responses stream: response.completed has the cost');

$r = $t->post_json('/report/v1/messages', { %msgs, max_tokens => 100 },
    'Authorization' => 'Bearer sk-report', @tok);
is((eval { decode_json($r->{body}) } // {})->{usage}{cost}, 0.00495,
   'messages: usage.cost (1000 x $3 + 100 x $15, the EU at 1.1x: $0.00495)')
    or diag $r->{body};

$r = $t->post_json('/report/v1/messages', { %msgs, max_tokens => 100,
    stream => JSON::PP::true() }, 'Authorization' => 'Bearer sk-report',
    @tok);
my @u = map { $_->{usage} // $_->{message}{usage} // () } sse_json($r->{body});
ok(@u >= 2, 'messages stream: message_start and message_delta');
is($u[-1]{cost}, 0.00495, 'messages stream: the last usage has the whole '
   . 'cost');

$r = $t->post_json('/v1/chat/completions', { %chat, max_tokens => 100 },
    'Authorization' => 'Bearer sk-report', @tok);
ok(!exists((eval { decode_json($r->{body}) } // {})->{usage}{cost}),
   'without tier_router_report_cost the answer is as it came');

$r = $t->post_json('/report/v1/chat/completions', { %chat, max_tokens => 100 },
    'Authorization' => 'Bearer sk-report', 'X-Mock-Status' => 503);
is($r->{status}, 503, 'report_cost, an upstream error: passed on');
unlike($r->{body}, qr/"cost"/, '... as it came, no cost in it');
is($r->{headers}{'content-length'}, length $r->{body},
   '... with its own Content-Length');

# -- shadow: the decision logged, nothing done ----------------------------------

$e = logged('/shadow/v1/chat/completions', { %chat, model => 'gpt-named' },
            qw(X-Mock-Input-Tokens 1000 X-Mock-Output-Tokens 100));
is($e->{tier}, 'gpt', 'shadow: the tier it would have chosen');
is($e->{model}, 'gpt-x', '... and its model');
like($e->{reason}, qr/(^|,)shadow(,|$)/, '... the reason says shadow');
is($e->{base}, '0.028000', '... what the answer cost, at the model asked '
   . 'for ($20 / $80)');
is($e->{shadow}, '0.003500', '... what it would have cost routed');
is($e->{cost}, '-', '... nothing charged');
is($e->{in}, '1000', '... its tokens, read from the answer');

my $echo = $t->post_json('/shadow/v1/chat/completions',
    { %chat, model => 'gpt-named', max_tokens => 100 },
    'Authorization' => 'Bearer sk-shadow', 'X-Mock-Echo' => 1);
is(eval { decode_json($echo->{body}) }->{model}, 'gpt-named',
   'shadow: the body goes as the client sent it');
ok(!grep({ /^x-tier-router/ } keys %{ $echo->{headers} }),
   'shadow: the answer carries no header of the router');

my $bal = eval { decode_json($t->http_get('/shadow/budget',
    headers => ['Authorization' => 'Bearer sk-shadow'])->{body}) } // {};
is($bal->{spent_micro_usd}, 0, 'shadow: the tenant is charged nothing');
is($bal->{requests}, 0, '... and nothing is reserved or counted');

# a baseline that is no tier of the location's ladder stops nginx

{
    my $c = $t->read_file('nginx.conf');
    $c =~ s/tier_router_baseline gpt;/tier_router_baseline claude;/;
    $t->write_file('bad.conf', $c);
    my ($rc, $out) = $t->test_config('bad.conf');
    isnt($rc, 0, 'nginx -t refuses tier_router_baseline claude in an '
         . 'openai location');
    like($out, qr/"tier_router_baseline": no tier "claude" in the ladder/,
         '... and says why');
}

# -- what the body's size does not bound --------------------------------------

sub status_of {
    my ($path, $body, @h) = @_;
    my $max = $path =~ /responses/ ? 'max_output_tokens' : 'max_tokens';

    return $t->post_json($path, { $max => 1000, %$body },
        'Authorization' => 'Bearer sk-bound-' . ++$n, @h);
}

# a fresh tenant with $0.10: a request that fits is reserved 1000 out at
# $10 plus its body at $2.50; a stored input fills the context window
# (200000 tokens by default: $0.50)

$r = status_of('/v1/responses', { %resp }, 'X-Limit' => '0.10');
is($r->{status}, 200, 'a request the body bounds: reserved, answered');

for my $c (
    ['a previous_response_id', { %resp, previous_response_id => 'resp_1' }],
    ['a conversation', { %resp, conversation => 'conv_1' }],
    ['a stored prompt', { model => 'auto',
                          prompt => { id => 'pmpt_1', version => '2' } }],
    ['a file by id', { model => 'auto', input => [{ role => 'user',
        content => [{ type => 'input_file', file_id => 'file-1' },
                    { type => 'input_text', text => 'Sum it up.' }] }] }],
    ['an image by URL', { model => 'auto', input => [{ role => 'user',
        content => [{ type => 'input_image',
                      image_url => 'https://example.com/a.png' }] }] }],
) {
    $r = status_of('/v1/responses', $c->[1], 'X-Limit' => '0.10');
    is($r->{status}, 429, "$c->[0]: its input is not in the body, the "
       . 'context window is reserved, and $0.10 cannot cover it');
}

$r = status_of('/small/v1/responses',
               { %resp, previous_response_id => 'resp_1' }, 'X-Limit' => '0.10');
is($r->{status}, 200, 'context=10000: the model\'s own window is reserved '
   . '($0.025), and fits');

$r = status_of('/v1/responses', { model => 'auto', input => [
    { role => 'user', content => [{ type => 'input_image',
      image_url => 'data:image/png;base64,' . ('A' x 2000) }] }] },
    'X-Limit' => '0.10');
is($r->{status}, 200, 'an image inline: its bytes bound it');

# n choices: n times the output

$r = status_of('/v1/chat/completions', { %chat, n => 3, max_tokens => 4000 },
               'X-Limit' => '0.10');
is($r->{status}, 429, 'n=3: three times 4000 out at $10 is $0.12: refused');

$r = status_of('/v1/chat/completions', { %chat, n => 2, max_tokens => 4000 },
               'X-Limit' => '0.10');
is($r->{status}, 200, 'n=2: $0.08 fits');

$r = status_of('/v1/chat/completions', { %chat, n => 'x' });
is($r->{status}, 400, 'n not a number: 400');

# background responses: billed later, out of sight

$r = status_of('/v1/responses', { %resp, background => JSON::PP::true() });
is($r->{status}, 400, 'background: refused by default');
like($r->{body}, qr/background responses are not metered here/,
     '... saying why');
is(eval { decode_json($r->{body}) }->{error}{param}, 'background',
   '... and naming the parameter');

$r = status_of('/v1/responses', { %resp, background => JSON::PP::false() });
is($r->{status}, 200, 'background false: as any request');

my $id = 'bg' . ++$n;
$r = $t->post_json('/bg/v1/responses', { %resp, max_output_tokens => 1000,
                   background => JSON::PP::true() },
                   'Authorization' => 'Bearer sk-bg', 'X-Id' => $id,
                   'X-Mock-Input-Tokens' => 10, 'X-Mock-Output-Tokens' => 5);
$e = $t->log_entry('inv.log', 'I', $id);
is($r->{status}, 200, 'tier_router_budget_background worst: passed on');
cmp_ok($e->{cost}, '>=', 0.010, "... and charged its worst case, not the "
       . "0.000075 its first answer reports ($e->{cost})");

# -- a tenant's own budget ------------------------------------------------------

my $spent = 0;
for my $c (@cases) {
    (my $m = $c->[4]) =~ s/\.//;
    $spent += 2 * $m;
}

$r = $t->http_get('/v1/budget', headers => ['Authorization' => 'Bearer sk-inv',
                                            'X-Limit' => '5']);
my $b = eval { decode_json($r->{body}) } // {};
is($r->{status}, 200, 'balance: 200');
is($b->{spent_micro_usd}, $spent, "balance: the tenant's spend, the sum of "
   . "its requests to the micro-dollar ($spent)");
is($b->{limit_micro_usd}, 5000000, 'balance: its limit, as the location '
   . 'sets it');
is($b->{remaining_micro_usd}, 5000000 - $spent, 'balance: what is left');
is($b->{reserved_micro_usd}, 0, 'balance: nothing in flight');
is($b->{requests}, 2 * @cases, 'balance: its requests');
is($b->{period}, 'total', 'balance: the period');
ok(exists $b->{resets_at} && !defined $b->{resets_at},
   'balance: a total never resets');
is($r->{headers}{'cache-control'}, 'no-store', 'balance: not cached');
unlike($r->{body}, qr/sk-inv|hash|label/, 'balance: no key, hash or label '
   . 'in it');

$r = $t->http_get('/v1/budget', headers => ['Authorization' => 'Bearer sk-new']);
$b = eval { decode_json($r->{body}) } // {};
is($b->{spent_micro_usd}, 0, 'balance: another key sees only its own: '
   . 'nothing spent');
ok(!defined $b->{limit_micro_usd} && !defined $b->{remaining_micro_usd},
   'balance: no limit, nothing to subtract from');

$r = $t->http_get('/v1/budget');
is($r->{status}, 401, 'balance: no key, 401');
like($r->{body}, qr/no API key/, '... in the shape of the API\'s errors');

$r = $t->http_post('/v1/budget', '{}', 'Authorization' => 'Bearer sk-inv');
is($r->{status}, 405, 'balance: GET only');

# a monthly zone resets at the start of the next month, in UTC

use Time::Local qw(timegm);
my $now = timegm(0, 0, 12, 4, 11, 2026);

$r = $t->http_get('/monthly/budget', headers => [
    'Authorization' => 'Bearer sk-inv', 'X-Clock' => $now]);
$b = eval { decode_json($r->{body}) } // {};
is($b->{period}, 'month', 'balance: a monthly zone');
is($b->{period_start}, timegm(0, 0, 0, 1, 11, 2026), '... from December 1');
is($b->{resets_at}, timegm(0, 0, 0, 1, 0, 2027), '... to January 1');

done_testing;
