#!/usr/bin/perl

# Telemetry: each tier's token counters (input, output, and of them the
# cache reads and writes and the reasoning), its latency histograms (time
# to a stream's first token, duration of a successful answer) with the
# OpenTelemetry GenAI attributes as labels, the Prometheus text well
# formed by the conventions (t/lib/TierRouter/Prometheus.pm), the JSON
# saying the same, and the variables an access log or a span takes.  The
# mocks' latency sets a floor under every time measured; no test needs a
# ceiling.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;

use TierRouter::Test;
use TierRouter::Prometheus;

my $t = TierRouter::Test->new;

$t->mock($_) for qw(small big claude);

$t->write_config(<<'EOF');
http {
    %%HTTP_DEFAULTS%%

    upstream small_up { server 127.0.0.1:%%PORT_mock_small%%; }
    upstream big_up { server 127.0.0.1:%%PORT_mock_big%%; }
    upstream claude_up { server 127.0.0.1:%%PORT_mock_claude%%; }

    tier_router_ladder openai api=openai {
        tier small model=gpt-s upstream=small_up;
        tier big model=gpt-b upstream=big_up;
    }

    tier_router_ladder anthropic api=anthropic {
        tier claude model=claude-x upstream=claude_up;
    }

    tier_router_price gpt-s input=1 output=2;
    tier_router_price gpt-b input=10 output=20;
    tier_router_price claude-x input=3 output=15;

    tier_router_budget_zone zone=tenants:1m period=total
                            state=%%TESTDIR%%/state.json;

    log_format otel 'T id=$http_x_id tier=$tier_router_tier '
                    'model=$tier_router_model '
                    'rmodel=$tier_router_response_model '
                    'in=$tier_router_input_tokens '
                    'out=$tier_router_output_tokens '
                    'cr=$tier_router_cache_read_tokens '
                    'cw=$tier_router_cache_write_tokens '
                    'rs=$tier_router_reasoning_tokens '
                    'ttft=$tier_router_time_to_first_token';
    access_log %%TESTDIR%%/otel.log otel;

    server {
        listen 127.0.0.1:%%PORT_main%%;

        tier_router_budget zone=tenants key=$http_authorization;
        tier_router_override_header X-Tier;

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

        location = /status {
            tier_router_status tenants;
        }
    }
}
EOF

$t->run;

my $n = 0;

sub call {
    my ($path, $tier, $body, @h) = @_;

    my $id = 't' . ++$n;
    my $r = $t->post_json($path, $body, 'Authorization' => 'Bearer sk-t',
                          'X-Id' => $id, 'X-Tier' => $tier, @h);

    $r->{log} = $t->log_entry('otel.log', 'T', $id);

    return $r;
}

my %chat = (model => 'auto', max_tokens => 100,
            messages => [{ role => 'user', content => 'Say hello.' }]);
my %msg = (model => 'auto', max_tokens => 100,
           messages => [{ role => 'user', content => 'Say hello.' }]);
my $true = JSON::PP::true();

# a JSON answer: its tokens in the log, no time to a first token

my $r = call('/v1/chat/completions', 'small', \%chat,
             'X-Mock-Latency-Ms' => 300,
             'X-Mock-Input-Tokens' => 1000, 'X-Mock-Cached-Tokens' => 400,
             'X-Mock-Cache-Write-Tokens' => 100,
             'X-Mock-Output-Tokens' => 50, 'X-Mock-Reasoning-Tokens' => 20,
             'X-Mock-Answer-Model' => 'gpt-s-2026-01-01');
is($r->{status}, 200, 'chat JSON: 200');
is($r->{headers}{'x-tier-router-tier'}, 'small', 'chat JSON: small');
is_deeply([@{$r->{log}}{qw(tier model rmodel in out cr cw rs ttft)}],
          [qw(small gpt-s gpt-s-2026-01-01 1000 50 400 100 20 -)],
          'chat JSON: the log\'s tier, models and tokens; no first token');

# a stream: its first token no sooner than the mock's latency

$r = call('/v1/chat/completions', 'small', { %chat, stream => $true },
          'X-Mock-Latency-Ms' => 300, 'X-Mock-Event-Delay-Ms' => 20,
          'X-Mock-Input-Tokens' => 500, 'X-Mock-Cached-Tokens' => 100,
          'X-Mock-Output-Tokens' => 30, 'X-Mock-Reasoning-Tokens' => 10);
is($r->{status}, 200, 'chat stream: 200');
like($r->{body}, qr/data: \[DONE\]/, 'chat stream: whole');
is_deeply([@{$r->{log}}{qw(rmodel in out cr cw rs)}],
          [qw(gpt-s 500 30 100 0 10)], 'chat stream: the log\'s tokens');
like($r->{log}{ttft}, qr/^\d+\.\d{3}$/, 'chat stream: a time to the '
     . 'first token, in seconds to the millisecond');
cmp_ok($r->{log}{ttft}, '>=', 0.3, 'chat stream: no sooner than the '
       . 'mock\'s 300 ms');

my $small_ttft = $r->{log}{ttft};

# Anthropic: cache reads and writes counted apart by the provider, the
# same counters

$r = call('/v1/messages', 'claude', { %msg, stream => $true },
          'X-Mock-Latency-Ms' => 250,
          'X-Mock-Input-Tokens' => 800, 'X-Mock-Cached-Tokens' => 300,
          'X-Mock-Cache-Write-Tokens' => 200, 'X-Mock-Output-Tokens' => 40);
is($r->{status}, 200, 'messages stream: 200');
is($r->{log}{tier}, 'claude', 'messages stream: claude');
is_deeply([@{$r->{log}}{qw(cr cw rs)}], [qw(300 200 0)],
          'messages stream: cache read and write tokens');
cmp_ok($r->{log}{ttft}, '>=', 0.25, 'messages stream: the first token no '
       . 'sooner than 250 ms');

# responses: reasoning tokens

$r = call('/v1/responses', 'small', { model => 'auto', input => 'Hi.' },
          'X-Mock-Latency-Ms' => 300, 'X-Mock-Input-Tokens' => 100,
          'X-Mock-Output-Tokens' => 70, 'X-Mock-Reasoning-Tokens' => 60);
is($r->{status}, 200, 'responses: 200');
is_deeply([@{$r->{log}}{qw(in out cr cw rs)}], [qw(100 70 0 0 60)],
          'responses: reasoning tokens');

# an error answer: counted, but not timed as a success

$r = call('/v1/chat/completions', 'big', \%chat, 'X-Mock-Status' => 500,
          'X-Mock-Latency-Ms' => 100);
is($r->{status}, 500, 'an error: 500 passed on');
is($r->{log}{ttft}, '-', 'an error: no first token');

# a stream broken before any text: no first token, tokens not reported

$r = call('/v1/chat/completions', 'big', { %chat, stream => $true },
          'X-Mock-Break-After' => 0);
is($r->{log}{ttft}, '-', 'a stream broken before its first event: no '
   . 'first token');

# Prometheus: well formed, by the conventions

my $p = $t->http_get('/status?format=prometheus');
is($p->{status}, 200, 'Prometheus: 200');

my ($f, @problems) = TierRouter::Prometheus::parse($p->{body});
is_deeply(\@problems, [], 'Prometheus: well formed, names by the '
          . 'conventions') or diag(join "\n", @problems);

sub sample {
    my ($name, %want) = @_;
    my ($family) = $name =~ /^(.*?)(?:_bucket|_sum|_count)?$/;
    $family = $name if $f->{$name};

    my @s = grep { my $s = $_; $s->{name} eq $name
                   && !grep { ($s->{labels}{$_} // '') ne $want{$_} }
                      keys %want }
            @{$f->{$family}{samples} // []};

    return @s == 1 ? $s[0]{value} : undef;
}

is($f->{tier_router_tier_cache_read_tokens_total}{type}, 'counter',
   'Prometheus: cache reads, a counter');
is(sample('tier_router_tier_cache_read_tokens_total', tier => 'small'), 500,
   'Prometheus: small\'s cache reads, 400 + 100');
is(sample('tier_router_tier_cache_write_tokens_total', tier => 'small'),
   100, 'Prometheus: small\'s cache writes');
is(sample('tier_router_tier_reasoning_tokens_total', tier => 'small'), 90,
   'Prometheus: small\'s reasoning, 20 + 10 + 60');
is(sample('tier_router_tier_cache_read_tokens_total', tier => 'claude'),
   300, 'Prometheus: claude\'s cache reads');
is(sample('tier_router_tier_cache_write_tokens_total', tier => 'claude'),
   200, 'Prometheus: claude\'s cache writes');
is(sample('tier_router_tier_input_tokens_total', tier => 'small'), 1600,
   'Prometheus: small\'s input tokens, the cached included');

# the OpenTelemetry attributes as labels

my %attr = map { $_->{labels}{tier} => $_->{labels} }
           @{$f->{tier_router_tier_requests_total}{samples}};

is_deeply($attr{small}, { zone => 'tenants', tier => 'small',
                          gen_ai_operation_name => 'chat',
                          gen_ai_provider_name => 'openai',
                          gen_ai_request_model => 'gpt-s' },
          'Prometheus: small\'s labels, the GenAI attributes');
is($attr{claude}{gen_ai_provider_name}, 'anthropic',
   'Prometheus: claude\'s provider');
is($attr{big}{gen_ai_request_model}, 'gpt-b', 'Prometheus: big\'s model');

# the histograms

my $ttft = 'tier_router_tier_time_to_first_token_seconds';
my $dur = 'tier_router_tier_duration_seconds';

is($f->{$ttft}{type}, 'histogram', 'Prometheus: time to first token, a '
   . 'histogram');
is($f->{$dur}{type}, 'histogram', 'Prometheus: duration, a histogram');

is(sample("${ttft}_count", tier => 'small'), 1,
   'time to first token: small\'s stream only');
is(sample("${ttft}_bucket", tier => 'small', le => '0.25'), 0,
   'time to first token: none under 0.25 s (the mock waited 0.3 s)');
is(sample("${ttft}_bucket", tier => 'small', le => '+Inf'), 1,
   'time to first token: +Inf holds it');
cmp_ok(sample("${ttft}_sum", tier => 'small'), '>=', 0.3,
       'time to first token: its sum, at least 0.3 s');
ok(abs(sample("${ttft}_sum", tier => 'small') - $small_ttft) < 0.0015,
   'time to first token: the sum is what the variable said');
is(sample("${ttft}_count", tier => 'claude'), 1,
   'time to first token: claude\'s stream');
is(sample("${ttft}_count", tier => 'big'), 0,
   'time to first token: none for big (an error, a broken stream)');

my @le = map { $_->{labels}{le} }
         grep { $_->{name} eq "${ttft}_bucket"
                && $_->{labels}{tier} eq 'small' }
         @{$f->{$ttft}{samples}};
is("@le", '0.001 0.005 0.01 0.02 0.04 0.06 0.08 0.1 0.25 0.5 0.75 1 2.5 5 '
          . '7.5 10 +Inf',
   'time to first token: the OpenTelemetry GenAI bounds');

@le = map { $_->{labels}{le} }
      grep { $_->{name} eq "${dur}_bucket" && $_->{labels}{tier} eq 'small' }
      @{$f->{$dur}{samples}};
is("@le", '0.01 0.02 0.04 0.08 0.16 0.32 0.64 1.28 2.56 5.12 10.24 20.48 '
          . '40.96 81.92 +Inf', 'duration: the OpenTelemetry GenAI bounds');

is(sample("${dur}_count", tier => 'small'), 3,
   'duration: small\'s three answers');
is(sample("${dur}_bucket", tier => 'small', le => '0.16'), 0,
   'duration: none under 0.16 s');
cmp_ok(sample("${dur}_sum", tier => 'small'), '>=', 0.9,
       'duration: at least 3 x 0.3 s');
is(sample("${dur}_count", tier => 'big'), 0,
   'duration: big\'s error and broken stream not among successes');
is(sample('tier_router_tier_requests_total', tier => 'big'), 2,
   'big: its two answers counted all the same');

# the JSON says the same

my $j = $t->http_get('/status');
my $json = decode_json($j->{body});
my %tier = map { $_->{name} => $_ } @{$json->{tiers}};

is_deeply([@{$tier{small}}{qw(cache_read_tokens cache_write_tokens
                              reasoning_tokens)}], [500, 100, 90],
          'JSON: small\'s token counts');
is($tier{small}{time_to_first_token}{count}, 1, 'JSON: its first tokens');
is($tier{small}{duration}{count}, 3, 'JSON: its durations');
is($tier{small}{time_to_first_token}{sum_ms},
   int(sample("${ttft}_sum", tier => 'small') * 1000 + 0.5),
   'JSON: the sum in milliseconds, as Prometheus has it in seconds');
is_deeply($tier{small}{duration}{buckets}[-1], [undef, 3],
          'JSON: the last bucket +Inf (null), cumulative');
is(scalar @{$tier{small}{duration}{buckets}}, 15, 'JSON: 15 buckets');

# the counters are kept in the state file; the histograms are not

$t->stop;

my $state = decode_json($t->read_file('state.json'));
my %saved = map { $_->{name} => $_ } @{$state->{tiers}};

is_deeply([@{$saved{small}}{qw(cache_read_tokens cache_write_tokens
                               reasoning_tokens)}], [500, 100, 90],
          'state file: the token counters');

$t->run;

$p = $t->http_get('/status?format=prometheus');
($f, @problems) = TierRouter::Prometheus::parse($p->{body});
is(sample('tier_router_tier_reasoning_tokens_total', tier => 'small'), 90,
   'after a restart: the counters from the state file');
is(sample("${dur}_count", tier => 'small'), 0,
   'after a restart: the histograms begin again');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert or crit in '
       . 'the log');

# the checker finds what it is there to find

my %bad = (
    "# HELP a_requests x\n# TYPE a_requests counter\na_requests 1\n"
        => qr/a counter not ending in _total/,
    "# HELP a_total x\n# TYPE a_total gauge\na_total 1\n"
        => qr/a gauge ending in _total/,
    "# HELP a_milliseconds x\n# TYPE a_milliseconds gauge\n"
    . "a_milliseconds 1\n" => qr/not in base units/,
    "# HELP a x\n# TYPE a gauge\na{b=\"1\",b=\"2\"} 1\n"
        => qr/label b twice/,
    "a 1\n" => qr/a sample without a TYPE/,
    "# HELP a x\n# TYPE a gauge\na 1\na 2\n" => qr/a series twice/,
    "# HELP a x\n# TYPE a gauge\na{b=\"x\\q\"} 1\n" => qr/bad labels/,
    "# HELP h_seconds x\n# TYPE h_seconds histogram\n"
    . "h_seconds_bucket{le=\"1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 1\n"
    . "h_seconds_sum 1\nh_seconds_count 1\n" => qr/not cumulative/,
    "# HELP h_seconds x\n# TYPE h_seconds histogram\n"
    . "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 1\n"
    . "h_seconds_sum 1\nh_seconds_count 2\n" => qr/\+Inf is not _count/,
    "# HELP h_seconds x\n# TYPE h_seconds histogram\n"
    . "h_seconds_bucket{le=\"2\"} 1\nh_seconds_bucket{le=\"1\"} 1\n"
    . "h_seconds_sum 1\nh_seconds_count 1\n"
        => qr/not ascending|last bucket is not \+Inf/,
    "# HELP a x\n# TYPE a gauge\na 1" => qr/does not end with a newline/,
);

for my $text (sort keys %bad) {
    my (undef, @found) = TierRouter::Prometheus::parse($text);
    like(join("\n", @found), $bad{$text}, 'the checker fails: '
         . ($text =~ s/\n/|/gr));
}

my (undef, @none) = TierRouter::Prometheus::parse(
    "# HELP h_seconds x\n# TYPE h_seconds histogram\n"
    . "h_seconds_bucket{a=\"q\\\"\",le=\"1\"} 1\n"
    . "h_seconds_bucket{a=\"q\\\"\",le=\"+Inf\"} 2\n"
    . "h_seconds_sum{a=\"q\\\"\"} 1.5\nh_seconds_count{a=\"q\\\"\"} 2\n");
is_deeply(\@none, [], 'the checker passes a good histogram');

done_testing;
