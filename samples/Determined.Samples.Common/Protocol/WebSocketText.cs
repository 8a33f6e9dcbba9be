using System.Net.WebSockets;
using System.Text;

namespace Determined.Samples.Common.Protocol;

/// <summary>Reads the agent protocol's text frames, for both ends of the websocket.</summary>
public static class WebSocketText
{
    /// <summary>
    /// One whole text message (fragments joined); null when the peer closed (the close is answered) or the message grew
    /// beyond <paramref name="maxBytes"/> (the connection is closed with MessageTooBig).
    /// </summary>
    public static async Task<string?> ReceiveAsync(WebSocket socket, int maxBytes, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                if (socket.State == WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                }

                return null;
            }

            message.Write(buffer, 0, result.Count);
            if (message.Length > maxBytes)
            {
                await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, "message too big", CancellationToken.None);
                return null;
            }

            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length);
            }
        }
    }
}
