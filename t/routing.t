#!/usr/bin/perl

# Routing through nginx + the tier router module + four mock upstreams,
# against the contract (directives, variables, headers, errors, rewrite).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

use TierRouter::Test;

*openai_error_ok = \&TierRouter::Test::openai_error_ok;
*anthropic_error_ok = \&TierRouter::Test::anthropic_error_ok;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

$t->mock($_) for qw(small mid frontier thinking);

$t->write_config(<<'EOF');
http {
    %%HTTP_DEFAULTS%%

    %%UPSTREAMS small mid frontier thinking%%

    tier_router_tier small    model=small-model    upstream=small_up;
    tier_router_tier mid      model=mid-model      upstream=mid_up;
    tier_router_tier frontier model=frontier-model upstream=frontier_up;
    tier_router_tier thinking model=thinking-model upstream=thinking_up
                              reasoning=high;

    map $http_x_plan $cap {
        free     small;
        default  "";
    }

    map $http_x_floor $floor {
        pro      mid;
        default  "";
    }

    log_format tr 'TR tier=$tier_router_tier up=$tier_router_upstream '
                  'model=$tier_router_model score=$tier_router_score '
                  'reason=$tier_router_reason dialect=$tier_router_dialect '
                  'requested=$tier_router_requested_model status=$status '
                  'uri=$request_uri';

    access_log %%TESTDIR%%/tr.log tr;

    client_body_buffer_size 1m;
    proxy_buffering off;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        location /v1/ {
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location /nopin/ {
            tier_router on;
            tier_router_pin off;
            proxy_pass http://$tier_router_upstream;
        }

        location /reject/ {
            tier_router on;
            tier_router_unknown_model reject;
            proxy_pass http://$tier_router_upstream;
        }

        location /automodel/ {
            tier_router on;
            tier_router_auto_model router smart;
            tier_router_auto_model clever;
            tier_router_unknown_model reject;
            proxy_pass http://$tier_router_upstream;
        }

        location /cap/ {
            tier_router on;
            tier_router_max_tier $cap;
            tier_router_min_tier $floor;
            proxy_pass http://$tier_router_upstream;
        }

        location /override/ {
            tier_router on;
            tier_router_override_header X-Tier-Router-Tier;
            proxy_pass http://$tier_router_upstream;
        }

        location /noheaders/ {
            tier_router on;
            tier_router_headers off;
            proxy_pass http://$tier_router_upstream;
        }

        location /nosignal/ {
            tier_router on;
            tier_router_no_signal_tier mid;
            proxy_pass http://$tier_router_upstream;
        }

        location /forced/ {
            tier_router on;
            tier_router_dialect anthropic;
            proxy_pass http://$tier_router_upstream;
        }

        location /other/ {
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location /plain/ {
            proxy_pass http://small_up;
        }
    }
}
EOF

$t->run;

my $ROUTINE = "Translate 'hello' into French.";

my $HARD = <<'EOT' x 3;
Design a multi-region, event-sourced order management system composed of
several services (an API gateway, an order service, an inventory service, a
payment service with idempotent retries, and a saga orchestrator). Explain
the consistency model across services, how you would handle exactly-once
processing with Kafka transactions, schema evolution, and failure recovery
after a network partition. Then refactor the following code for
concurrency safety and prove that the invariants hold:

```python
class Inventory:
    def __init__(self):
        self.stock = {}
    def reserve(self, sku, qty):
        if self.stock.get(sku, 0) >= qty:
            self.stock[sku] -= qty
            return True
        return False
```

```go
func (s *Saga) Compensate(ctx context.Context, steps []Step) error {
    for i := len(steps) - 1; i >= 0; i-- {
        if err := steps[i].Undo(ctx); err != nil {
            return fmt.Errorf("undo %d: %w", i, err)
        }
    }
    return nil
}
```

Analyze the time and space complexity, compare at least three alternative
architectures with trade-offs, and write a step-by-step migration plan with
rollback, plus property-based tests and a formal TLA+ sketch of the saga.
EOT

sub chat_body {
    my ($model, $prompt, %extra) = @_;
    return $J->encode({ model => $model, messages => [
        { role => 'system', content => 'You are a helpful assistant.' },
        { role => 'user', content => $prompt } ], %extra });
}

sub responses_body {
    my ($model, $prompt, %extra) = @_;
    return $J->encode({ model => $model, input => $prompt, %extra });
}

sub anthropic_body {
    my ($model, $prompt, %extra) = @_;
    return $J->encode({ model => $model, max_tokens => 1024,
        messages => [{ role => 'user', content => $prompt }], %extra });
}

my %BODY = (
    '/v1/chat/completions' => \&chat_body,
    '/v1/responses' => \&responses_body,
    '/v1/messages' => \&anthropic_body,
);

my %DIALECT = (
    '/v1/chat/completions' => 'openai_chat',
    '/v1/responses' => 'openai_responses',
    '/v1/messages' => 'anthropic',
);

sub post {
    my ($path, $body, @h) = @_;
    my $n = log_lines();
    my $r = $t->http('POST', $path, body => $body,
        headers => ['Content-Type' => 'application/json', @h]);
    $r->{json} = TierRouter::Test::json_decode($r->{body});
    $r->{log} = wait_log_line($n);
    return $r;
}

sub log_lines {
    my @l = grep { /^TR / } split /\n/, $t->access_log('tr.log');
    return scalar @l;
}

# the access log line of the request just made (parsed into a hash)

sub wait_log_line {
    my ($before) = @_;
    my $deadline = time + 2;

    while (1) {
        my @l = grep { /^TR / } split /\n/, $t->access_log('tr.log');
        if (@l > $before || time > $deadline) {
            my $line = @l > $before ? $l[-1] : '';
            my %f = $line =~ /(\w+)=(\S*)/g;
            $f{line} = $line;
            return \%f;
        }
        sleep 0.01;
    }
}

sub answer_model {
    my ($r) = @_;
    my $d = $r->{json} or return undef;
    return $d->{model};
}

sub tier_of { $_[0]{headers}{'x-tier-router-tier'} // '' }

my %TIER_MODEL = (small => 'small-model', mid => 'mid-model',
    frontier => 'frontier-model', thinking => 'thinking-model');

# a routine prompt goes to small, in all three dialects

my %score;

for my $path (sort keys %BODY) {
    my $body = $BODY{$path}->('auto', $ROUTINE);
    my $r = post($path, $body);
    my $d = $DIALECT{$path};

    is($r->{status}, 200, "$d routine: 200");
    is($r->{headers}{'x-mock-name'}, 'small', "$d routine: small upstream");
    is(answer_model($r), 'small-model', "$d routine: small-model in answer");
    is(tier_of($r), 'small', "$d routine: X-Tier-Router-Tier");
    like($r->{headers}{'x-tier-router-score'} // '', qr/^[01]\.\d{3}$/,
        "$d routine: X-Tier-Router-Score format");
    like($r->{headers}{'x-tier-router-reason'} // '', qr/^classified\b/,
        "$d routine: X-Tier-Router-Reason starts with classified");

    my $l = $r->{log};
    is($l->{tier}, 'small', "$d routine: \$tier_router_tier");
    is($l->{up}, 'small_up', "$d routine: \$tier_router_upstream");
    is($l->{model}, 'small-model', "$d routine: \$tier_router_model");
    is($l->{dialect}, $d, "$d routine: \$tier_router_dialect");
    is($l->{requested}, 'auto', "$d routine: \$tier_router_requested_model");
    is($l->{score}, $r->{headers}{'x-tier-router-score'},
        "$d routine: \$tier_router_score = header");
    is($l->{reason}, $r->{headers}{'x-tier-router-reason'},
        "$d routine: \$tier_router_reason = header");
    ok(defined $l->{score} && $l->{score} <= 0.25,
        "$d routine: score within small's default max_score 0.25");

    $score{routine}{$d} = $l->{score};
}

# a hard prompt goes to a higher tier, in all three dialects

for my $path (sort keys %BODY) {
    my $d = $DIALECT{$path};
    my %extra = $d eq 'openai_chat' ? (reasoning_effort => 'high',
            max_tokens => 8000)
        : $d eq 'openai_responses' ? (reasoning => { effort => 'high' },
            max_output_tokens => 8000)
        : (max_tokens => 8000);

    my $r = post($path, $BODY{$path}->('auto', $HARD, %extra));

    is($r->{status}, 200, "$d hard: 200");
    isnt(tier_of($r), 'small', "$d hard: not small (" . tier_of($r) . ")");
    my $tier = tier_of($r);
    is($r->{headers}{'x-mock-name'}, $tier, "$d hard: upstream = tier");
    is(answer_model($r), $TIER_MODEL{$tier}, "$d hard: tier's model");
    ok($r->{log}{score} > $score{routine}{$d},
        "$d hard: score $r->{log}{score} > routine score");
    like($r->{headers}{'x-tier-router-reason'} // '',
        qr/^classified,\w/, "$d hard: reason has classifier signals");

    $score{hard}{$d} = $tier;
}

# pinning: a tier's model goes to that tier

for my $tier (qw(mid frontier thinking small)) {
    my $r = post('/v1/chat/completions',
        chat_body($TIER_MODEL{$tier}, $ROUTINE));
    is($r->{status}, 200, "pin $tier: 200");
    is($r->{headers}{'x-mock-name'}, $tier, "pin $tier: upstream");
    is(answer_model($r), $TIER_MODEL{$tier}, "pin $tier: model");
    like($r->{headers}{'x-tier-router-reason'} // '', qr/^pinned\b/,
        "pin $tier: reason pinned");
    is($r->{log}{requested}, $TIER_MODEL{$tier}, "pin $tier: requested");
}

for my $path ('/v1/messages', '/v1/responses') {
    my $r = post($path, $BODY{$path}->('frontier-model', $ROUTINE));
    is($r->{headers}{'x-mock-name'}, 'frontier', "pin in $path");
    is(answer_model($r), 'frontier-model', "pin in $path: model");
}

# tier_router_pin off: a tier's model is routed like any other

{
    my $r = post('/nopin/v1/chat/completions',
        chat_body('frontier-model', $ROUTINE));
    is($r->{status}, 200, 'pin off: 200');
    is($r->{headers}{'x-mock-name'}, 'small', 'pin off: routed to small');
    is(answer_model($r), 'small-model', 'pin off: model rewritten');
    unlike($r->{headers}{'x-tier-router-reason'} // '', qr/pinned/,
        'pin off: not pinned');
    is($r->{log}{requested}, 'frontier-model', 'pin off: requested model');
}

# unknown model, default route: routed and rewritten

{
    my $r = post('/v1/chat/completions', chat_body('gpt-4o', $ROUTINE));
    is($r->{status}, 200, 'unknown model routed: 200');
    is($r->{headers}{'x-mock-name'}, 'small', 'unknown model: small');
    is(answer_model($r), 'small-model', 'unknown model: rewritten');
    is($r->{log}{requested}, 'gpt-4o', 'unknown model: requested');
    # contract: the decision is one of classified|pinned|override|no_signal
    like($r->{headers}{'x-tier-router-reason'} // '',
        qr/^(classified|no_signal),unknown_model\b/,
        'unknown model: decision in the contract\'s list, then the flag');
}

# a request without "model" is routed

{
    my $r = post('/v1/chat/completions', $J->encode({ messages =>
        [{ role => 'user', content => $ROUTINE }] }));
    is($r->{status}, 200, 'no model: 200');
    is($r->{headers}{'x-mock-name'}, 'small', 'no model: small');
}

# auto model names

{
    my $r = post('/automodel/v1/chat/completions',
        chat_body('router', $ROUTINE));
    is($r->{status}, 200, 'auto_model router: 200');
    is(answer_model($r), 'small-model', 'auto_model router: routed');

    $r = post('/automodel/v1/chat/completions', chat_body('smart', $ROUTINE));
    is($r->{status}, 200, 'auto_model smart: 200');

    $r = post('/automodel/v1/chat/completions',
        chat_body('clever', $ROUTINE));
    is($r->{status}, 200, 'auto_model from a second directive: 200');
    is(answer_model($r), 'small-model', 'auto_model clever: routed');

    $r = post('/automodel/v1/chat/completions', chat_body('auto', $ROUTINE));
    is($r->{status}, 400, 'auto_model without "auto": "auto" is unknown');
}

# tier_router_unknown_model reject

for my $path ('/reject/v1/chat/completions', '/reject/v1/responses') {
    my $body = $path =~ /chat/ ? chat_body('gpt-4o', $ROUTINE)
        : responses_body('gpt-4o', $ROUTINE);
    my $r = post($path, $body);
    is($r->{status}, 400, "reject $path: 400");
    like($r->{headers}{'content-type'} // '', qr{^application/json},
        "reject $path: JSON");
    openai_error_ok($r, "reject $path");
    like($r->{json}{error}{message} // '', qr/gpt-4o/,
        "reject $path: message names the model");
    ok(!$r->{headers}{'x-mock-name'}, "reject $path: not proxied");
}

{
    my $r = post('/reject/v1/messages', anthropic_body('claude-x', $ROUTINE));
    is($r->{status}, 400, 'reject messages: 400');
    anthropic_error_ok($r, 'reject messages');

    $r = post('/reject/v1/chat/completions', chat_body('mid-model', $ROUTINE));
    is($r->{status}, 200, 'reject: a tier model is accepted');
    is($r->{headers}{'x-mock-name'}, 'mid', 'reject: tier model pinned');

    $r = post('/reject/v1/chat/completions', chat_body('auto', $ROUTINE));
    is($r->{status}, 200, 'reject: auto is accepted');
}

# max_tier / min_tier from variables

{
    my $hard = chat_body('auto', $HARD, reasoning_effort => 'high',
        max_tokens => 8000);

    my $r = post('/cap/v1/chat/completions', $hard);
    is(tier_of($r), $score{hard}{openai_chat},
        'cap: empty cap variable changes nothing');

    $r = post('/cap/v1/chat/completions', $hard, 'X-Plan' => 'free');
    is($r->{status}, 200, 'cap free: 200');
    is(tier_of($r), 'small', 'cap free: capped to small');
    is($r->{headers}{'x-mock-name'}, 'small', 'cap free: small upstream');
    is(answer_model($r), 'small-model', 'cap free: small-model');
    like($r->{headers}{'x-tier-router-reason'} // '', qr/,max_tier$/,
        'cap free: reason ends with max_tier');

    # a cap is a cost control: it holds for pinned requests too
    $r = post('/cap/v1/chat/completions',
        chat_body('frontier-model', $ROUTINE), 'X-Plan' => 'free');
    is(tier_of($r), 'small', 'cap free: applies to a pinned model');

    $r = post('/cap/v1/chat/completions', chat_body('auto', $ROUTINE),
        'X-Floor' => 'pro');
    is(tier_of($r), 'mid', 'floor pro: raised to mid');
    is($r->{headers}{'x-mock-name'}, 'mid', 'floor pro: mid upstream');
    like($r->{headers}{'x-tier-router-reason'} // '', qr/,min_tier$/,
        'floor pro: reason ends with min_tier');

    $r = post('/cap/v1/chat/completions', chat_body('auto', $ROUTINE));
    is(tier_of($r), 'small', 'floor: empty floor changes nothing');
    unlike($r->{headers}{'x-tier-router-reason'} // '', qr/_tier/,
        'no cap/floor adjustments in reason');
}

# override header, only where enabled

{
    my $body = chat_body('auto', $ROUTINE);

    my $r = post('/override/v1/chat/completions', $body,
        'X-Tier-Router-Tier' => 'frontier');
    is($r->{status}, 200, 'override: 200');
    is(tier_of($r), 'frontier', 'override: forced tier');
    is($r->{headers}{'x-mock-name'}, 'frontier', 'override: upstream');
    is(answer_model($r), 'frontier-model', 'override: model');
    like($r->{headers}{'x-tier-router-reason'} // '', qr/^override\b/,
        'override: reason');

    $r = post('/override/v1/chat/completions', chat_body('mid-model',
        $ROUTINE), 'X-Tier-Router-Tier' => 'frontier');
    is(tier_of($r), 'frontier', 'override beats a pinned model');

    $r = post('/v1/chat/completions', $body,
        'X-Tier-Router-Tier' => 'frontier');
    is(tier_of($r), 'small', 'override header ignored when off');
    unlike($r->{headers}{'x-tier-router-reason'} // '', qr/override/,
        'override off: reason');

    $r = post('/override/v1/chat/completions', $body,
        'X-Tier-Router-Tier' => 'no-such-tier');
    is($r->{status}, 400, 'override with an unknown tier: 400');
    openai_error_ok($r, 'override with an unknown tier');
    like($r->{json}{error}{message} // '', qr/'no-such-tier'/,
        'override with an unknown tier: named in the message');

    # the client's bytes can forge neither the JSON nor the log line

    my $mark = $t->log_mark;
    $r = post('/override/v1/chat/completions', $body,
        'X-Tier-Router-Tier' => "x\xff\xfe\"}\x7f\x01\\" . ('y' x 400));
    is($r->{status}, 400, 'override with raw bytes: 400');
    ok(defined $r->{json}, 'override with raw bytes: the error is JSON');
    my $m = $r->{json}{error}{message} // '';
    like($m, qr/'x\x{fffd}\x{fffd}"\}\x7f\x01\\y+'$/,
        'override with raw bytes: escaped, invalid UTF-8 replaced');
    ok(length($m) < 400, 'override with raw bytes: cut to a bounded length');
    my $log = $t->log_since;
    like($log, qr/x\\ufffd\\ufffd\\"\}\\u007f\\u0001\\\\y/,
        'override with raw bytes: escaped in the error log');
    unlike($log, qr/[\x00-\x08\x7f-\xff]/,
        'override with raw bytes: no raw control or invalid bytes logged');
}

# tier_router_headers off

{
    my $r = post('/noheaders/v1/chat/completions',
        chat_body('auto', $ROUTINE));
    is($r->{status}, 200, 'headers off: 200');
    my @h = grep { /^x-tier-router-/ } keys %{$r->{headers}};
    is("@h", '', 'headers off: no X-Tier-Router-* headers');
    is($r->{log}{tier}, 'small', 'headers off: variables still set');
    is($r->{headers}{'x-mock-name'}, 'small', 'headers off: routed');
}

# no_signal_tier

{
    my $r = post('/nosignal/v1/chat/completions', chat_body('auto', 'hi'));
    my $reason = $r->{headers}{'x-tier-router-reason'} // '';
    is($r->{status}, 200, 'nosignal: 200');

    if ($reason =~ /^no_signal/) {
        is(tier_of($r), 'mid', 'no_signal decision uses no_signal_tier');
    } else {
        pass("'hi' had a signal ($reason)");
    }

    $r = post('/v1/chat/completions', chat_body('auto', 'hi'));
    unlike($r->{headers}{'x-tier-router-reason'} // '', qr/^no_signal/,
        'no_signal decision only with tier_router_no_signal_tier');
}

# dialect: by URI, forced; another URI is no API the module routes, so it
# goes on untouched, whatever its body looks like

{
    for my $body (responses_body('auto', $ROUTINE),
                  chat_body('auto', $ROUTINE),
                  '{"model":"auto","prompt":"hello"}')
    {
        my $r = post('/other/llm', $body, 'X-Mock-Echo' => 1);
        my $what = substr($body, 0, 30);

        is($r->{status}, 200, "another URI ($what...): passed on");
        is($r->{body}, $body, "another URI ($what...): the body untouched");
        is($r->{log}{dialect}, '-', "another URI ($what...): not routed");
        is($r->{headers}{'x-mock-name'}, 'small',
           "another URI ($what...): to the first tier's upstream");
    }

    my $r = post('/forced/v1/chat/completions', '{"model":');
    is($r->{status}, 400, 'forced anthropic: bad JSON 400');
    anthropic_error_ok($r, 'forced anthropic dialect error shape');
}

# without tier_router, the module stays out of the way

{
    my $r = post('/plain/v1/chat/completions', chat_body('auto', $ROUTINE),
        'X-Mock-Echo' => 1);
    is($r->{status}, 200, 'plain location: 200');
    is($r->{body}, chat_body('auto', $ROUTINE), 'plain: body untouched');
    ok(!grep({ /^x-tier-router-/ } keys %{$r->{headers}}),
        'plain: no X-Tier-Router headers');
}

# rewrite: byte-identical but for the model value

my @rewrite = (
    [ 'chat compact', '/v1/chat/completions',
      '{"model":"__M__","messages":[{"role":"user","content":'
      . '"Translate \'hello\' into French."}]}' ],
    [ 'chat odd whitespace, escapes, nested model keys',
      '/v1/chat/completions',
      "{\r\n\t\"messages\" : [ {\"role\":\"user\" ,\"content\":\"Translate "
      . "\\u0027hello\\u0027 into French. caf\\u00e9 \\ud83d\\ude00 "
      . "\\\"model\\\": \\\"auto\\\" caf\xc3\xa9 \xe2\x98\x95\"} ] ,\n"
      . "  \"temperature\":0.70 ,  \"metadata\" : {\"model\":\"keep-me\"},"
      . "\"model\"\t:\t__Q__ , \"n\":1 }\n",
      '"au\\u0074o"' ],
    [ 'chat model last, no spaces', '/v1/chat/completions',
      '{"messages":[{"role":"user","content":"Translate \'hello\' into '
      . 'French."}],"stream":false,"model":"__M__"}' ],
    [ 'responses', '/v1/responses',
      '{ "model": "__M__", "input": "Translate \'hello\' into French.", '
      . '"store": false }' ],
    [ 'anthropic', '/v1/messages',
      "{\"max_tokens\": 1024,\n \"model\": \"__M__\",\n \"messages\": "
      . "[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": "
      . "\"Translate 'hello' into French.\"}]}]}" ],
);

for my $case (@rewrite) {
    my ($name, $path, $tmpl, $sent_model) = @$case;

    my $sent = $tmpl;
    my $expect = $tmpl;

    if ($sent_model) {
        $sent =~ s/__Q__/$sent_model/;
        $expect =~ s/__Q__/"small-model"/;
    } else {
        $sent =~ s/__M__/auto/;
        $expect =~ s/__M__/small-model/;
    }

    my $r = post($path, $sent, 'X-Mock-Echo' => 1);
    is($r->{status}, 200, "rewrite $name: 200");
    is($r->{headers}{'x-mock-name'}, 'small', "rewrite $name: small");
    ok($r->{body} eq $expect, "rewrite $name: byte-identical but the model")
        or diag("sent:     $sent\nexpected: $expect\ngot:      $r->{body}");
    is($r->{headers}{'x-mock-request-content-length'}, length $expect,
        "rewrite $name: Content-Length follows");

    # a pinned model is left as it is

    my $pinned = $tmpl;
    $pinned =~ s/__M__/small-model/;
    $pinned =~ s/__Q__/"small-model"/;
    $r = post($path, $pinned, 'X-Mock-Echo' => 1);
    ok($r->{body} eq $pinned, "rewrite $name: pinned body unchanged");
}

# a model value longer than the new one, and a JSON with a BOM-less UTF-8
# key order mix

{
    my $sent = '{"model":"' . ('x' x 100) . '","messages":[{"role":"user",'
        . '"content":"Translate \'hello\' into French."}]}';
    (my $expect = $sent) =~ s/"x{100}"/"small-model"/;
    my $r = post('/v1/chat/completions', $sent, 'X-Mock-Echo' => 1);
    ok($r->{body} eq $expect, 'rewrite: long model name shrinks');
    is($r->{headers}{'x-mock-request-content-length'}, length $expect,
        'rewrite: shrunk Content-Length');
}

# reasoning=high tier adds reasoning parameters

sub without_member {
    my ($text, $re) = @_;
    my @out;
    (my $a = $text) =~ s/\s*,\s*$re//;
    (my $b = $text) =~ s/$re\s*,\s*//;
    return ($a, $b);
}

{
    my $sent = chat_body('thinking-model', $ROUTINE);
    my $r = post('/v1/chat/completions', $sent, 'X-Mock-Echo' => 1);
    is($r->{headers}{'x-mock-name'}, 'thinking', 'reasoning chat: pinned');
    my $d = TierRouter::Test::json_decode($r->{body});
    is($d && $d->{reasoning_effort}, 'high',
        'reasoning chat: reasoning_effort high added');
    ok(grep({ $_ eq $sent } without_member($r->{body},
        qr/"reasoning_effort"\s*:\s*"high"/)),
        'reasoning chat: otherwise byte-identical')
        or diag("sent: $sent\ngot:  $r->{body}");

    $sent = chat_body('thinking-model', $ROUTINE, reasoning_effort => 'low');
    $r = post('/v1/chat/completions', $sent, 'X-Mock-Echo' => 1);
    $d = TierRouter::Test::json_decode($r->{body});
    is($d && $d->{reasoning_effort}, 'high',
        'reasoning chat: reasoning_effort low replaced by high');
    my $n = () = $r->{body} =~ /"reasoning_effort"/g;
    is($n, 1, 'reasoning chat: one reasoning_effort key');

    $sent = responses_body('thinking-model', $ROUTINE);
    $r = post('/v1/responses', $sent, 'X-Mock-Echo' => 1);
    $d = TierRouter::Test::json_decode($r->{body});
    is($d && ref $d->{reasoning} && $d->{reasoning}{effort}, 'high',
        'reasoning responses: reasoning.effort high');
    $d && delete $d->{reasoning};
    is_deeply($d, TierRouter::Test::json_decode($sent),
        'reasoning responses: the rest unchanged');

    $sent = anthropic_body('thinking-model', $ROUTINE, max_tokens => 16000);
    $r = post('/v1/messages', $sent, 'X-Mock-Echo' => 1);
    $d = TierRouter::Test::json_decode($r->{body});
    is_deeply($d && $d->{thinking},
        { type => 'enabled', budget_tokens => 8192 },
        'reasoning anthropic: thinking enabled, budget 8192');
    $d && delete $d->{thinking};
    is_deeply($d, TierRouter::Test::json_decode($sent),
        'reasoning anthropic: the rest unchanged');

    # the budget stays below max_tokens, or no thinking is added at all

    $sent = anthropic_body('thinking-model', $ROUTINE, max_tokens => 4000);
    $r = post('/v1/messages', $sent, 'X-Mock-Echo' => 1);
    $d = TierRouter::Test::json_decode($r->{body});
    is_deeply($d && $d->{thinking},
        { type => 'enabled', budget_tokens => 3999 },
        'reasoning anthropic: budget shrunk below max_tokens 4000');

    $sent = anthropic_body('thinking-model', $ROUTINE, max_tokens => 1000);
    $r = post('/v1/messages', $sent, 'X-Mock-Echo' => 1);
    $d = TierRouter::Test::json_decode($r->{body});
    ok($d && !exists $d->{thinking},
        'reasoning anthropic: no thinking where max_tokens 1000 leaves none');
    is($d && $d->{model}, 'thinking-model',
        'reasoning anthropic: the model is still the tier\'s');

    # a tier without reasoning= adds nothing
    $sent = chat_body('mid-model', $ROUTINE);
    $r = post('/v1/chat/completions', $sent, 'X-Mock-Echo' => 1);
    ok($r->{body} eq $sent, 'no reasoning= on mid: nothing added');
}

# streaming through the router

for my $path (sort keys %BODY) {
    my $d = $DIALECT{$path};
    my %extra = (stream => JSON::PP::true);
    $extra{stream_options} = { include_usage => JSON::PP::true }
        if $d eq 'openai_chat';

    my $r = post($path, $BODY{$path}->('auto', $ROUTINE, %extra));
    is($r->{status}, 200, "$d stream: 200");
    is($r->{headers}{'x-mock-name'}, 'small', "$d stream: small");
    like($r->{headers}{'content-type'} // '', qr{^text/event-stream},
        "$d stream: event stream");
    is(tier_of($r), 'small', "$d stream: X-Tier-Router-Tier");

    my @ev = TierRouter::Test::parse_sse($r->{body});
    my @models = grep { defined } map {
        $_->{json} && ($_->{json}{model} // ($_->{json}{message}
            && $_->{json}{message}{model}) // ($_->{json}{response}
            && $_->{json}{response}{model}))
    } @ev;
    ok(@models && !grep({ $_ ne 'small-model' } @models),
        "$d stream: events carry small-model");
}

# upstream errors pass through

{
    my $r = post('/v1/chat/completions', chat_body('auto', $ROUTINE),
        'X-Mock-Status' => 429);
    is($r->{status}, 429, 'upstream 429 passes through');
    is($r->{headers}{'x-mock-name'}, 'small', 'upstream 429 from small');
}

# many requests in a row stay consistent

{
    my $ok = 0;
    for (1 .. 50) {
        my $r = $t->http('POST', '/v1/chat/completions',
            body => chat_body('auto', $ROUTINE));
        $ok++ if $r->{status} == 200
            && ($r->{headers}{'x-tier-router-tier'} // '') eq 'small';
    }
    is($ok, 50, '50 requests in a row routed the same');
}

# reload with a changed tier table: new requests see the new tiers

{
    my $conf = $t->read_file('nginx.conf');
    my $re = qr/(tier_router_tier small\s+model=)small-model(\s+upstream=)/;
    $conf =~ s/${re}small_up/$1cheap-model$2mid_up/
        or die "cannot edit the config\n";
    $t->write_file('nginx.conf', $conf);
    $t->reload;

    my $r = post('/v1/chat/completions', chat_body('auto', $ROUTINE));
    is(tier_of($r), 'small', 'after reload: tier small');
    is($r->{headers}{'x-mock-name'}, 'mid', 'after reload: new upstream');
    is(answer_model($r), 'cheap-model', 'after reload: new model');
}

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/,
    'no alert/crit/emerg in error.log');

done_testing;
