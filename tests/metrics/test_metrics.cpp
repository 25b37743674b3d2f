// Per-worker shards must add up to what a single counter would have counted, and the
// exposition must be what Prometheus expects.
#include <catch2/catch.hpp>
#include <thread>

#include "metrics/metrics.hpp"

using namespace switchyard;

namespace {
core::Config two_model_config() {
  core::Config config;
  core::ProviderConfig p;
  p.name = "prov";
  p.type = "mock";
  config.providers.push_back(p);
  for (const char* name : {"alpha", "beta"}) {
    core::ModelConfig m;
    m.name = name;
    core::TargetConfig target;
    target.provider = "prov";
    target.upstream_model = name;
    m.targets.push_back(target);
    config.models.push_back(m);
  }
  return config;
}
}  // namespace

TEST_CASE("sharded values written by several threads sum exactly") {
  metrics::ShardedValue value(4);
  std::vector<std::thread> threads;
  for (std::size_t shard = 0; shard < 4; ++shard) {
    threads.emplace_back([&, shard] {
      for (int i = 0; i < 100000; ++i) value.add(shard, 1);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(value.value() == 400000);
}

TEST_CASE("a sharded histogram merges shards into cumulative buckets") {
  metrics::ShardedHistogram h({0.1, 1, 10}, 2);
  h.observe(0, 0.05);
  h.observe(1, 0.1);  // on the bound: counted in le=0.1
  h.observe(0, 5);
  h.observe(1, 50);
  const auto merged = h.collect();
  REQUIRE(merged.bucket.size() == 4);
  CHECK(merged.bucket[0].cumulative_count == 2);
  CHECK(merged.bucket[1].cumulative_count == 2);
  CHECK(merged.bucket[2].cumulative_count == 3);
  CHECK(merged.bucket[3].cumulative_count == 4);
  CHECK(std::isinf(merged.bucket[3].upper_bound));
  CHECK(merged.sample_count == 4);
  CHECK(merged.sample_sum == Approx(55.15));
}

TEST_CASE("the exposition has every configured model and only bounded label values") {
  metrics::Metrics m(two_model_config(), 2);
  const auto& alpha = m.model("alpha");
  alpha.targets.at(0).requests[metrics::status_class_index(200)]->add(0, 1);
  alpha.targets.at(0).requests[metrics::status_class_index(201)]->add(1, 1);
  alpha.targets.at(0).count_attempt(0, metrics::AttemptOutcome::first_token_timeout);
  alpha.record_usage(1, core::Usage{100, 20, 10, 5}, 0.25);
  m.provider("prov").count_error(0, metrics::UpstreamError::timeout);
  CHECK(&m.model("not-configured") == &m.unrouted());

  const std::string text = m.serialize();
  CHECK(text.find("# TYPE switchyard_requests_total counter") != std::string::npos);
  CHECK(text.find(R"(switchyard_requests_total{model="alpha",provider="prov",status="2xx"} 2)") !=
        std::string::npos);
  CHECK(text.find(R"(switchyard_requests_total{model="beta",provider="prov",status="5xx"} 0)") !=
        std::string::npos);
  // Requests that never reached a target of a configured model.
  CHECK(
      text.find(R"x(switchyard_requests_total{model="beta",provider="(none)",status="4xx"} 0)x") !=
      std::string::npos);
  CHECK(
      text.find(
          R"(switchyard_upstream_attempts_total{model="alpha",provider="prov",outcome="first_token_timeout"} 1)") !=
      std::string::npos);
  CHECK(text.find(R"(switchyard_target_available{model="alpha",provider="prov"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(switchyard_tokens_total{kind="cached_prompt",model="alpha"} 10)") !=
        std::string::npos);
  CHECK(text.find(R"(switchyard_cost_usd_total{model="alpha"} 0.25)") != std::string::npos);
  CHECK(text.find(R"(switchyard_upstream_errors_total{provider="prov",reason="timeout"} 1)") !=
        std::string::npos);
  CHECK(text.find("# TYPE switchyard_request_duration_seconds histogram") != std::string::npos);
  CHECK(
      text.find(
          R"x(switchyard_requests_total{model="(unrouted)",provider="(none)",status="4xx"} 0)x") !=
      std::string::npos);
  CHECK(text.find("not-configured") == std::string::npos);
}

TEST_CASE("status classes") {
  CHECK(metrics::status_class_index(200) == 0);
  CHECK(metrics::status_class_index(302) == 1);
  CHECK(metrics::status_class_index(499) == 2);
  CHECK(metrics::status_class_index(504) == 3);
}
