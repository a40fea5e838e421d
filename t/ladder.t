#!/usr/bin/perl

# Tier ladders: Anthropic calls climb the Anthropic models and OpenAI
# calls the OpenAI ones, behind one nginx; each ladder's floor, cap,
# override, pin, fallback, passthrough and budget stay in the ladder; a
# ladder of the other provider's API is refused by nginx -t, and at run
# time where the location's API is not known in advance.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;

*openai_error_ok = \&TierRouter::Test::openai_error_ok;
*anthropic_error_ok = \&TierRouter::Test::anthropic_error_ok;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

$t->mock($_, args => ['--provider', 'openai']) for qw(nano mini big);
$t->mock($_, args => ['--provider', 'anthropic']) for qw(haiku sonnet opus);

my $LADDERS = <<'EOF';
    %%UPSTREAMS nano mini big haiku sonnet opus%%

    tier_router_ladder openai api=openai {
        tier nano  model=gpt-nano  upstream=nano_up;
        tier mini  model=gpt-mini  upstream=mini_up;
        tier big   model=gpt-big   upstream=big_up;
    }

    tier_router_ladder anthropic api=anthropic {
        tier haiku  model=claude-haiku  upstream=haiku_up;
        tier sonnet model=claude-sonnet upstream=sonnet_up;
        tier opus   model=claude-opus   upstream=opus_up;
    }
EOF

$t->write_config(<<"EOF");
http {
    %%HTTP_DEFAULTS%%

$LADDERS

    tier_router_price gpt-nano      input=1   output=2;
    tier_router_price gpt-mini      input=10  output=20;
    tier_router_price gpt-big       input=100 output=200;
    tier_router_price claude-haiku  input=2   output=4;
    tier_router_price claude-sonnet input=20  output=40;
    tier_router_price claude-opus   input=200 output=400;

    tier_router_budget_zone zone=tenants:1m period=month
                            state=%%TESTDIR%%/state.json state_interval=1s;

    log_format tr 'TR tier=\$tier_router_tier model=\$tier_router_model '
                  'up=\$tier_router_upstream reason=\$tier_router_reason';
    access_log %%TESTDIR%%/tr.log tr;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /v1/messages {
            tier_router on;
            tier_router_use anthropic;
            tier_router_budget zone=tenants key=\$http_x_api_key;
            proxy_pass http://\$tier_router_upstream;
        }

        location /v1/ {
            tier_router on;
            tier_router_use openai;
            tier_router_budget zone=tenants key=\$http_authorization;
            proxy_pass http://\$tier_router_upstream;
        }

        location /bounds/ {
            tier_router on;
            tier_router_use anthropic;
            tier_router_min_tier \$http_x_min;
            tier_router_max_tier \$http_x_max;
            tier_router_override_header X-Tier;
            proxy_pass http://\$tier_router_upstream;
        }

        location /fb/ {
            tier_router on;
            tier_router_use anthropic;
            tier_router_fallback http_503;
            tier_router_attempts 3;
            proxy_pass http://\$tier_router_upstream;
        }

        location /either/ {
            tier_router on;
            tier_router_use anthropic;
            proxy_pass http://\$tier_router_upstream;
        }

        location = /status {
            tier_router_status tenants;
        }
    }
}
EOF

$t->run;

my $EASY = TierRouter::Test::easy_prompt();
my $HARD = TierRouter::Test::hard_prompt();

sub anthropic {
    my ($path, $text, %o) = @_;

    my %body = (model => $o{model} // 'auto', max_tokens => 200,
                messages => [{ role => 'user', content => $text }]);

    my $r = $t->http_post($path, $J->encode(\%body),
        'Content-Type' => 'application/json',
        'X-Api-Key' => 'sk-ant-tenant', @{$o{headers} // []});
    $r->{json} = TierRouter::Test::json_decode($r->{body});
    return $r;
}

sub openai {
    my ($path, $text, %o) = @_;

    my %body = (model => $o{model} // 'auto', max_tokens => 200);

    if ($path =~ /responses$/) {
        $body{input} = $text;
        delete $body{max_tokens};
        $body{max_output_tokens} = 200;
    } else {
        $body{messages} = [{ role => 'user', content => $text }];
    }

    my $r = $t->http_post($path, $J->encode(\%body),
        'Content-Type' => 'application/json',
        'Authorization' => 'Bearer sk-oai-tenant', @{$o{headers} // []});
    $r->{json} = TierRouter::Test::json_decode($r->{body});
    return $r;
}

sub mock_of { $_[0]{headers}{'x-mock-name'} // '' }
sub model_of { ($_[0]{json} // {})->{model} // '' }

# -- each dialect climbs its own provider's ladder ---------------------------

my $r = anthropic('/v1/messages', $EASY);
is($r->{status}, 200, 'anthropic, easy: 200');
is(mock_of($r), 'haiku', 'anthropic, easy: the Anthropic ladder\'s bottom');
is(model_of($r), 'claude-haiku', 'anthropic, easy: its model');
is($r->{json}{type}, 'message', 'anthropic, easy: an Anthropic answer');

$r = anthropic('/v1/messages', $HARD);
is(mock_of($r), 'opus', 'anthropic, hard: the Anthropic ladder\'s top');
is(model_of($r), 'claude-opus', 'anthropic, hard: its model');

$r = openai('/v1/chat/completions', $EASY);
is($r->{status}, 200, 'chat, easy: 200');
is(mock_of($r), 'nano', 'chat, easy: the OpenAI ladder\'s bottom');
is(model_of($r), 'gpt-nano', 'chat, easy: its model');

$r = openai('/v1/chat/completions', $HARD);
is(mock_of($r), 'big', 'chat, hard: the OpenAI ladder\'s top');

$r = openai('/v1/responses', $EASY);
is(mock_of($r), 'nano', 'responses, easy: the OpenAI ladder');
is(model_of($r), 'gpt-nano', 'responses: its model');

my $log = $t->read_file('tr.log') // '';
like($log, qr/tier=haiku model=claude-haiku up=haiku_up/,
     'the access log names the ladder\'s tier and upstream');

# -- pinned models: only the ladder's own -------------------------------------

$r = anthropic('/v1/messages', $EASY, model => 'claude-sonnet');
is(mock_of($r), 'sonnet', 'pinned to a model of the ladder: kept');

$r = anthropic('/v1/messages', $EASY, model => 'gpt-big');
is(mock_of($r), 'haiku', 'a model of the other ladder is not pinned');
is(model_of($r), 'claude-haiku', '... and is rewritten to the ladder\'s');

# -- floor, cap and override name the ladder's tiers --------------------------

$r = anthropic('/bounds/v1/messages', $EASY, headers => ['X-Min' => 'sonnet']);
is(mock_of($r), 'sonnet', 'floor in the ladder');

$r = anthropic('/bounds/v1/messages', $HARD, headers => ['X-Max' => 'sonnet']);
is(mock_of($r), 'sonnet', 'cap in the ladder');

$r = anthropic('/bounds/v1/messages', $EASY, headers => ['X-Tier' => 'opus']);
is(mock_of($r), 'opus', 'override to a tier of the ladder');

$r = anthropic('/bounds/v1/messages', $EASY, headers => ['X-Tier' => 'big']);
is($r->{status}, 400, 'override to a tier of the other ladder: 400');
anthropic_error_ok($r, 'override to the other ladder');

$r = anthropic('/bounds/v1/messages', $EASY, headers => ['X-Max' => 'mini']);
is($r->{status}, 500, 'a cap naming the other ladder\'s tier: 500, fail '
   . 'closed');
like($t->error_log, qr/tier bound "mini" names no tier/,
     '... and the error log says why');

# -- fallback climbs the ladder, never into the other -------------------------

$r = anthropic('/fb/v1/messages', $EASY,
    headers => ['X-Mock-For' => 'haiku', 'X-Mock-Status' => '503']);
is($r->{status}, 200, 'fallback: 200');
is(mock_of($r), 'sonnet', 'fallback: the next tier of the ladder');

$r = anthropic('/fb/v1/messages', $HARD,
    headers => ['X-Mock-For' => 'opus', 'X-Mock-Status' => '503']);
is($r->{status}, 503, 'fallback at the ladder\'s top: nowhere to go');

# -- the other provider's API where the location's API is not fixed ----------

$r = openai('/either/v1/chat/completions', $EASY);
is($r->{status}, 400, 'chat to an Anthropic ladder: 400');
openai_error_ok($r, 'chat to an Anthropic ladder');
like($r->{json}{error}{message} // '', qr/another provider's API/,
     '... that says why');

$r = anthropic('/either/v1/messages', $EASY);
is(mock_of($r), 'haiku', 'messages there: routed');

# -- what is not routed goes to the ladder's own first tier ------------------

$r = $t->http_post('/v1/messages/count_tokens',
    $J->encode({ model => 'claude-haiku', messages => [] }),
    'Content-Type' => 'application/json', 'X-Api-Key' => 'sk-ant-tenant');
is(mock_of($r), 'haiku', 'count_tokens: the Anthropic ladder\'s first tier');

$r = $t->http_get('/v1/models', headers => ['Authorization' => 'Bearer x']);
is(mock_of($r), 'nano', 'GET /v1/models: the OpenAI ladder\'s first tier');

# -- budgets: per tier of each ladder -----------------------------------------

$r = $t->http_get('/status');
my $st = TierRouter::Test::json_decode($r->{body}) // {};
my %tier = map { $_->{name} => $_ } @{$st->{tiers} // []};

for my $n (qw(nano big haiku sonnet opus)) {
    ok(($tier{$n}{requests} // 0) > 0, "status: tier $n counted");
}

is(join(',', map { $_->{name} } @{$st->{tiers} // []}),
   'nano,mini,big,haiku,sonnet,opus', 'status: every ladder\'s tiers');
is($tier{haiku}{ladder}, 'anthropic', 'status: a tier\'s ladder');

# the state file keeps each ladder's tiers by name (saved every second)

my $state;
for (1 .. 40) {
    $state = TierRouter::Test::json_decode($t->read_file('state.json') // '');
    last if $state && grep { ($_->{name} // '') eq 'opus' }
                           @{$state->{tiers} // []};
    select(undef, undef, undef, 0.1);
}
my %saved = map { $_->{name} => $_ } @{($state // {})->{tiers} // []};
ok(($saved{opus}{requests} // 0) > 0 && ($saved{nano}{requests} // 0) > 0,
   'state file: the tiers of both ladders, with their requests');

# -- nginx -t ---------------------------------------------------------------

my $c = TierRouter::Test->new;

sub conf_with {
    my ($http, $location, $uri) = @_;
    $uri //= '/v1/messages';
    return <<"EOF";
http {
$LADDERS
$http
    server {
        listen 127.0.0.1:%%PORT_main%%;
        location $uri {
            tier_router on;
$location
            proxy_pass http://\$tier_router_upstream;
        }
    }
}
EOF
}

for my $case (
    [ 'the OpenAI ladder on /v1/messages',
      conf_with('', 'tier_router_use openai;'),
      qr/"tier_router_ladder" "openai" speaks the openai API, not the /
      . qr/anthropic API of the location routed in \S+:\d+/ ],
    [ 'the Anthropic ladder on chat completions',
      conf_with('', 'tier_router_use anthropic;', '/v1/chat/completions'),
      qr/"anthropic" speaks the anthropic API, not the openai_chat API/ ],
    [ 'the OpenAI ladder where tier_router_dialect says anthropic',
      conf_with('', "tier_router_use openai;\ntier_router_dialect "
                    . "anthropic;", '/x/'),
      qr/speaks the openai API, not the anthropic API/ ],
    [ 'a ladder that is not defined',
      conf_with('', 'tier_router_use gemini;'),
      qr/"tier_router_use": no "tier_router_ladder" "gemini" is defined in /
      . qr/\S+:\d+/ ],
    [ 'a tier name used in two ladders',
      conf_with("tier_router_ladder more { tier nano model=x "
                . "upstream=nano_up; }", ''),
      qr/duplicate tier "nano"/ ],
    [ 'a duplicate ladder',
      conf_with("tier_router_ladder openai { tier x model=x "
                . "upstream=nano_up; }", ''),
      qr/duplicate "tier_router_ladder" "openai"/ ],
    [ 'an empty ladder',
      conf_with("tier_router_ladder none { }", ''),
      qr/"tier_router_ladder" "none" has no tier/ ],
    [ 'an unknown line in a ladder',
      conf_with("tier_router_ladder l { model x; }", ''),
      qr/unknown directive "model" in "tier_router_ladder"/ ],
    [ 'a ladder with an unknown api',
      conf_with("tier_router_ladder l api=gemini { tier x model=x "
                . "upstream=nano_up; }", ''),
      qr/invalid parameter "api=gemini"/ ],
    [ 'a tier without an upstream in a ladder',
      conf_with("tier_router_ladder l { tier x model=x; }", ''),
      qr/"tier_router_tier" "x" has no "upstream="/ ],
    [ 'a soft cap naming the other ladder\'s tier',
      conf_with("tier_router_budget_zone zone=z:1m;\n"
                . join('', map { "tier_router_price $_ input=1 output=1;\n" }
                       qw(gpt-nano gpt-mini gpt-big claude-haiku
                          claude-sonnet claude-opus)),
                "tier_router_use anthropic;\n"
                . "tier_router_budget zone=z key=\$http_x_api_key;\n"
                . "tier_router_budget_soft 80% mini;"),
      qr/"tier_router_budget_soft": no tier "mini" is defined in the /
      . qr/location's ladder/ ],
    [ 'a no-signal tier of the other ladder',
      conf_with('', "tier_router_use anthropic;\n"
                    . "tier_router_no_signal_tier nano;"),
      qr/"tier_router_no_signal_tier": no tier "nano" is defined in the /
      . qr/location's ladder/ ],
    [ 'a location with no ladder and no default tiers',
      conf_with('', ''),
      qr/"tier_router" is on but no "tier_router_tier" is defined/ ],
) {
    my ($name, $conf, $re) = @$case;

    $c->write_config($conf);
    my ($rc, $out) = $c->test_config;
    isnt($rc, 0, "nginx -t refuses $name");
    like($out, qr/$re/, "... and says why: $name") or diag($out);
}

for my $case (
    [ 'the OpenAI ladder on /v1/messages with translate',
      conf_with('', 'tier_router_use openai translate;') ],
    [ 'the Anthropic ladder on /v1/messages',
      conf_with('', 'tier_router_use anthropic;') ],
    [ 'a ladder on a location of either API',
      conf_with('', 'tier_router_use anthropic;', '/v1/') ],
    [ 'a ladder chosen at the server level',
      conf_with('', '', '/v1/') =~ s/(listen [^;]+;)/$1\n        tier_router_use openai;/r ],
) {
    my ($name, $conf) = @$case;

    $c->write_config($conf);
    my ($rc, $out) = $c->test_config;
    is($rc, 0, "nginx -t accepts $name") or diag($out);
}

done_testing;
