using System.Net;
using System.Text;

namespace Determined.Sdk.Tests.Client;

/// <summary>Whatever a hostile or broken master answers, the client returns a value or throws a DeterminedException.</summary>
[Trait("Leg", "Wine")] // run by eng/windows-leg.sh under Wine (no keys made in-process)
public sealed class HostileMasterTests
{
    private sealed class ScriptedHandler(Func<HttpResponseMessage> next) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = next();
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }

    [Fact]
    public async Task AnyBodyAndStatus_IsAValueOrADeterminedException()
    {
        var random = new Random(31);
        var fragments = new[] { "{", "}", "\"version\":", "\"user\":", "{\"username\":\"u\"}", "\"error\":", "{\"code\":16,\"reason\":\"Unauthenticated\",\"error\":\"x\"}", "[", "]", "null", "1e999", "\"\\ud800\"", ",", "\"token\":" };
        var statuses = new[] { HttpStatusCode.OK, HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden, HttpStatusCode.NotFound, HttpStatusCode.InternalServerError, HttpStatusCode.BadGateway };
        var bodies = Determined.Security.Tests.Reliability.HostileInputCorpus.Generate(30, fragments, 1500).GetEnumerator();
        HttpResponseMessage Next()
        {
            bodies.MoveNext();
            return new HttpResponseMessage(statuses[random.Next(statuses.Length)]) { Content = new StringContent(bodies.Current ?? string.Empty, Encoding.UTF8, "application/json") };
        }

        var settings = DeterminedConnectionSettings.Resolve(new DeterminedClientOptions { MasterUrl = "http://127.0.0.1:9", UseEnvironment = false, UseTokenStore = false, MaxRetries = 0 }, _ => null);
        using var http = new HttpClient(new ScriptedHandler(Next)) { BaseAddress = settings.MasterUri };
        using var client = new DeterminedClient(http, settings);
        var outcomes = new Dictionary<string, int>();
        for (var i = 0; i < 1500; i++)
        {
            string outcome;
            try
            {
                object result = (i % 4) switch
                {
                    0 => await client.GetInfoAsync(),
                    1 => await client.GetMasterAsync(),
                    2 => await client.GetCurrentUserAsync(),
                    _ => await client.LoginAsync("u", "p"),
                };
                Assert.NotNull(result); // a non-nullable result is never a null in disguise

                outcome = "value";
            }
            catch (DeterminedException ex)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message));
                outcome = ex.GetType().Name;
            }

            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        Assert.True(outcomes.GetValueOrDefault("DeterminedApiException") > 100, string.Join(", ", outcomes));
    }
}
