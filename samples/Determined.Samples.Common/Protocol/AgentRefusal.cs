namespace Determined.Samples.Common.Protocol;

/// <summary>
/// Why the sample master refused an agent's <c>/agents</c> upgrade. A websocket client sees the status and headers of a
/// refused upgrade but never its body, so the reason travels as a code in <see cref="Header"/>; the agent words the
/// message and the fix from the code and its own configuration. (Upstream's master sends no reason; an agent that does not
/// know the header still sees the status.)
/// </summary>
public static class AgentRefusal
{
    /// <summary>The response header that carries the code.</summary>
    public const string Header = "X-Determined-Agent-Refusal";

    /// <summary>403: <c>resource_manager.require_authentication</c> is on and the agent sent no client certificate.</summary>
    public const string ClientCertificateRequired = "client-certificate-required";

    /// <summary>403: the agent id is neither a name of its client certificate nor mapped to one.</summary>
    public const string IdNotCertificateName = "agent-id-not-certificate-name";

    /// <summary>409: the id is connected with another client certificate.</summary>
    public const string IdHeldByAnotherCertificate = "agent-id-held-by-another-certificate";

    /// <summary>400: not a websocket upgrade, no id, or a bad <c>reconnect</c>.</summary>
    public const string BadRequest = "bad-request";
}
