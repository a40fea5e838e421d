#!/usr/bin/perl

# Tier profiles: what each tier's model accepts.  The mocks refuse as the
# 2026 models do (an adaptive-only Opus refuses thinking {type: enabled}
# and sampling parameters, a reasoning model refuses max_tokens and
# temperature); the same requests pass once the tier's profile rewrites
# them, and the reason says what changed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

$t->mock('haiku', args => ['--provider', 'anthropic']);
$t->mock('opus', args => ['--provider', 'anthropic', '--adaptive-only',
                          '--refuse', 'temperature,top_p,top_k']);
$t->mock('mini', args => ['--provider', 'openai']);
$t->mock('reasoner', args => ['--provider', 'openai',
                              '--refuse', 'max_tokens,temperature']);

$t->write_config(<<'EOF');
http {
    %%HTTP_DEFAULTS%%

    %%UPSTREAMS haiku opus mini reasoner%%

    tier_router_ladder claude api=anthropic {
        tier haiku    model=claude-haiku upstream=haiku_up;
        tier opus     model=claude-opus  upstream=opus_up
                      thinking=adaptive effort=high
                      drop=temperature,top_p,top_k;
        tier opus_old model=claude-opus  upstream=opus_up reasoning=high;
    }

    tier_router_ladder gpt api=openai {
        tier mini     model=gpt-mini upstream=mini_up;
        tier reasoner model=gpt-r    upstream=reasoner_up effort=xhigh
                      rename=max_tokens:max_completion_tokens
                      drop=temperature;
        tier plain_r  model=gpt-r    upstream=reasoner_up;
    }

    server {
        listen 127.0.0.1:%%PORT_main%%;

        # the Claude ladder, but where a location says otherwise
        tier_router on;
        tier_router_use claude;

        location /v1/messages {
            tier_router_override_header X-Tier;
            proxy_pass http://$tier_router_upstream;
        }

        location /json/v1/messages {
            tier_router_max_tier opus;
            tier_router_escalate json;
            proxy_pass http://$tier_router_upstream;
        }

        location /esc/v1/messages {
            tier_router_max_tier opus;
            tier_router_fallback http_404 http_503;
            tier_router_escalate length refusal empty;
            tier_router_attempts 3;
            proxy_pass http://$tier_router_upstream;
        }

        location /sse/v1/messages {
            tier_router_max_tier opus;
            tier_router_fallback stream_error;
            tier_router_attempts 2;
            tier_router_override_header X-Tier;
            proxy_buffering off;
            proxy_pass http://$tier_router_upstream;
        }

        location /v1/ {
            tier_router_use gpt;
            tier_router_override_header X-Tier;
            proxy_pass http://$tier_router_upstream;
        }
    }
}
EOF

$t->run;

my $MSG = [{ role => 'user', content => 'Say hello.' }];

sub post { $t->post_json(@_) }

sub reason_of { $_[0]{headers}{'x-tier-router-reason'} // '' }

# -- Anthropic: adaptive thinking on an adaptive-only model -------------------

my %claude = (model => 'auto', max_tokens => 20000, temperature => 0.3,
              top_k => 5, messages => $MSG,
              thinking => { type => 'enabled', budget_tokens => 4096 },
              output_config => { format => { type => 'json_schema',
                                             schema => { type => 'object' }}});

my $r = post('/v1/messages', \%claude, 'X-Tier' => 'opus_old');
is($r->{status}, 400, 'control: the adaptive-only model refuses the budget '
   . 'form and sampling parameters');

$r = post('/v1/messages', \%claude, 'X-Tier' => 'opus');
is($r->{status}, 200, 'a thinking tier on an adaptive-only model answers 200');
is($r->{headers}{'x-mock-name'}, 'opus', '... from that model');
like(reason_of($r), qr/(^|,)param_dropped:temperature(,|$)/,
     'the reason says temperature was dropped');
like(reason_of($r), qr/(^|,)param_dropped:top_k(,|$)/, '... and top_k');
unlike(reason_of($r), qr/top_p/, '... not top_p, which was not sent');

$r = post('/v1/messages', \%claude, 'X-Tier' => 'opus', 'X-Mock-Echo' => 1);
my $sent = $r->{json} // {};
is_deeply($sent->{thinking}, { type => 'adaptive' },
          'what the model got: adaptive thinking');
is_deeply($sent->{output_config},
          { effort => 'high',
            format => { type => 'json_schema', schema => { type => 'object' }}},
          '... the effort merged into output_config beside its format');
ok(!exists $sent->{temperature} && !exists $sent->{top_k},
   '... no temperature, no top_k');
is($sent->{max_tokens}, 20000, '... max_tokens as the client sent it');
is($sent->{model}, 'claude-opus', '... the tier\'s model');

$r = post('/v1/messages', { %claude, temperature => undef },
          'X-Tier' => 'haiku', 'X-Mock-Echo' => 1);
ok(exists $r->{json}{temperature} && exists $r->{json}{thinking}
   && $r->{json}{thinking}{type} eq 'enabled',
   'a tier without a profile passes the client\'s members on');
unlike(reason_of($r), qr/param_/, '... and says nothing of them');

# -- OpenAI: a reasoning model ------------------------------------------------

my %chat = (model => 'auto', max_tokens => 300, temperature => 0.2,
            messages => $MSG);

$r = post('/v1/chat/completions', \%chat, 'X-Tier' => 'plain_r');
is($r->{status}, 400, 'control: the reasoning model refuses max_tokens');

$r = post('/v1/chat/completions', \%chat, 'X-Tier' => 'reasoner');
is($r->{status}, 200, 'with the profile: 200');
like(reason_of($r), qr/param_renamed:max_tokens/,
     'the reason says max_tokens was renamed');
like(reason_of($r), qr/param_dropped:temperature/,
     '... and temperature dropped');

$r = post('/v1/chat/completions', \%chat, 'X-Tier' => 'reasoner',
          'X-Mock-Echo' => 1);
$sent = $r->{json} // {};
is($sent->{max_completion_tokens}, 300,
   'what the model got: max_completion_tokens');
ok(!exists $sent->{max_tokens} && !exists $sent->{temperature},
   '... no max_tokens, no temperature');
is($sent->{reasoning_effort}, 'xhigh', '... the tier\'s effort word');

$r = post('/v1/responses', { model => 'auto', input => 'Say hello.',
                             reasoning => { summary => 'auto',
                                            effort => 'low' } },
          'X-Tier' => 'reasoner', 'X-Mock-Echo' => 1);
is_deeply($r->{json}{reasoning}, { summary => 'auto', effort => 'xhigh' },
          'responses: only reasoning.effort set, summary kept');

# -- Anthropic structured output: the json signal -----------------------------

$r = post('/json/v1/messages',
          { model => 'auto', max_tokens => 500, messages => $MSG,
            output_config => { format => { type => 'json_schema',
                                           schema => {} } } },
          'X-Mock-For' => 'haiku', 'X-Mock-Text' => 'not json at all');
is($r->{headers}{'x-mock-name'}, 'opus',
   'output_config.format asks for JSON: prose escalates');
like($r->{headers}{'x-tier-router-path'} // '', qr/^haiku:200:json opus$/,
     '... the path says why');

$r = post('/json/v1/messages',
          { model => 'auto', max_tokens => 500, messages => $MSG,
            output_format => { type => 'json_schema', schema => {} } },
          'X-Mock-For' => 'haiku', 'X-Mock-Text' => 'prose');
is($r->{headers}{'x-mock-name'}, 'opus',
   'the older output_format too');

$r = post('/json/v1/messages',
          { model => 'auto', max_tokens => 500, messages => $MSG },
          'X-Mock-For' => 'haiku', 'X-Mock-Text' => 'prose');
is($r->{headers}{'x-mock-name'}, 'haiku', 'no format asked: prose kept');

# -- what the header or the answer says, and what the operator named --------

my %easy = (model => 'auto', max_tokens => 500, messages => $MSG);

$r = post('/esc/v1/messages', \%easy,
          'X-Mock-For' => 'haiku', 'X-Mock-Status' => '404');
is($r->{status}, 200, 'a retired model (404), http_404 named: fell back');
is($r->{headers}{'x-tier-router-path'}, 'haiku:404 opus', '... the path');

$r = post('/v1/messages', \%easy, 'X-Tier' => 'haiku',
          'X-Mock-For' => 'haiku', 'X-Mock-Status' => '404');
is($r->{status}, 404, 'a 404 where http_404 is not named: passed on');

$r = post('/esc/v1/messages', \%easy,
          'X-Mock-For' => 'haiku', 'X-Mock-Finish' => 'refusal:cyber');
is($r->{headers}{'x-mock-name'}, 'opus', 'a refusal escalates');
is($r->{headers}{'x-tier-router-path'}, 'haiku:200:refusal:cyber opus',
   '... and keeps its category');

$r = post('/esc/v1/messages', \%easy,
          'X-Mock-For' => 'haiku', 'X-Mock-Finish' => 'pause_turn');
is($r->{headers}{'x-mock-name'}, 'haiku',
   'pause_turn, with empty named: kept, it is not empty');
is($r->{json}{stop_reason}, 'pause_turn', '... the client gets it');

$r = post('/esc/v1/messages', \%easy, 'X-Mock-For' => 'haiku',
          'X-Mock-Finish' => 'model_context_window_exceeded');
is($r->{headers}{'x-mock-name'}, 'opus',
   'model_context_window_exceeded escalates, as length');
is($r->{headers}{'x-tier-router-path'}, 'haiku:200:length opus',
   '... the path');

# -- an Anthropic stream: 200, then an error event before any content -------

my %stream = (model => 'auto', max_tokens => 500, stream => JSON::PP::true,
              messages => $MSG);

$r = post('/sse/v1/messages', \%stream,
          'X-Mock-For' => 'haiku', 'X-Mock-Stream-Error' => '1');
is($r->{status}, 200, 'stream error before content, stream_error named: 200');
is($r->{headers}{'x-mock-name'}, 'opus', '... from the next tier');
unlike($r->{body}, qr/^event: error/m, '... the error event not passed on');
like($r->{body}, qr/^event: content_block_delta/m, '... its content');
like($r->{body}, qr/^event: message_stop/m, '... to the end');
is(() = $r->{body} =~ /^event: message_start/mg, 1,
   '... one message_start: nothing of the failed attempt');
is($r->{headers}{'x-tier-router-path'}, 'haiku:200:stream_error opus',
   '... the path says why');

$r = post('/sse/v1/messages', \%stream);
is($r->{headers}{'x-mock-name'}, 'haiku', 'a good stream, stream_error '
   . 'named: the first tier\'s');
my @events = $r->{body} =~ /^event: (\w+)/mg;
is(join(',', @events), 'message_start,content_block_start,ping,'
   . join(',', ('content_block_delta') x 9) . ',content_block_stop,'
   . 'message_delta,message_stop', '... every event, in order');

$r = post('/sse/v1/messages', \%stream,
          'X-Mock-For' => 'haiku', 'X-Mock-Break-After' => 1);
is($r->{headers}{'x-mock-name'}, 'opus', 'a held stream broken off before '
   . 'any content: the next tier');
like($r->{body}, qr/^event: message_stop/m, '... its stream whole');
is(() = $r->{body} =~ /^event: message_start/mg, 1,
   '... nothing of the broken one');

$r = post('/esc/v1/messages', \%stream,
          'X-Mock-For' => 'haiku', 'X-Mock-Stream-Error' => '1');
is($r->{headers}{'x-mock-name'}, 'haiku', 'stream_error not named: the '
   . 'stream as it came');
like($r->{body}, qr/^event: error/m, '... with its error event');

$r = post('/sse/v1/messages', \%stream, 'X-Tier' => 'opus',
          'X-Mock-For' => 'opus', 'X-Mock-Stream-Error' => '1');
like($r->{body}, qr/^event: error/m,
     'at the top tier, nowhere to go: the error event as it came');

# -- nginx -t -----------------------------------------------------------------

my $c = TierRouter::Test->new;

for my $case (
    [ 'effort=extreme', qr/invalid parameter "effort=extreme"/ ],
    [ 'drop=temperature rename=top_p:', qr/invalid parameter "rename=top_p:"/ ],
    [ 'thinking=on', qr/invalid parameter "thinking=on"/ ],
    [ 'drop=seed', qr/invalid parameter "drop=seed"/ ],
    [ 'drop=temperature,', qr/invalid parameter "drop=temperature,"/ ],
    [ 'rename=max_tokens', qr/invalid parameter "rename=max_tokens"/ ],
    [ 'rename=thinking:reasoning', qr/invalid parameter "rename=thinking/ ],
    [ 'rename=max_tokens:Bad-Key', qr/invalid parameter "rename=max_tokens/ ],
) {
    my ($param, $re) = @$case;

    $c->write_config(<<"EOF");
http {
    tier_router_tier small model=m upstream=127.0.0.1:1 $param;
    server {
        listen 127.0.0.1:%%PORT_main%%;
        location / { tier_router on; proxy_pass http://\$tier_router_upstream; }
    }
}
EOF
    my ($rc, $out) = $c->test_config;
    isnt($rc, 0, "nginx -t refuses $param");
    like($out, $re, "... and names it") or diag($out);
}

done_testing;
