//! An agent loop: a (simulated) model asks for tools, the agent runs them and feeds the results
//! back as tool messages until the model answers.
//!
//! ```text
//! cargo run --example agent_tools
//! ```

use llmobs::{Message, ToolCall, ToolDefinition, ToolResult};

#[llmobs::tool]
fn get_weather(city: &str) -> String {
    format!("14 °C and cloudy in {city}")
}

#[llmobs::tool]
fn convert_to_fahrenheit(celsius: f64) -> f64 {
    celsius * 9.0 / 5.0 + 32.0
}

/// Stands in for a model with function calling: asks for one tool per turn, then answers.
#[llmobs::llm(model_name = "scripted-model", model_provider = "local")]
fn model_turn(history: &[Message]) -> Message {
    let tool_messages = history.iter().filter(|m| m.role == "tool").count();
    let reply = match tool_messages {
        0 => Message::assistant("").tool_calls([ToolCall::function(
            "get_weather",
            serde_json::json!({"city": "Oslo"}),
        )
        .id("call-1")]),
        1 => Message::assistant("").tool_calls([ToolCall::function(
            "convert_to_fahrenheit",
            serde_json::json!({"celsius": 14.0}),
        )
        .id("call-2")]),
        _ => Message::assistant("It is 14 °C (57.2 °F) and cloudy in Oslo."),
    };
    let _ = llmobs::annotate()
        .input_messages(history.iter().cloned())
        .output_messages([reply.clone()])
        .tool_definitions([
            ToolDefinition::new("get_weather").description("Current weather in a city"),
            ToolDefinition::new("convert_to_fahrenheit").description("Celsius to Fahrenheit"),
        ])
        .metric("input_tokens", (history.len() * 20) as f64)
        .metric("output_tokens", 12.0)
        .apply();
    reply
}

#[llmobs::agent]
fn weather_agent(question: &str) -> String {
    let mut history = vec![
        Message::system("You are a weather assistant."),
        Message::user(question),
    ];
    for _ in 0..5 {
        let reply = model_turn(&history);
        let calls = reply.tool_calls.clone();
        history.push(reply.clone());
        if calls.is_empty() {
            return reply.content;
        }
        for call in calls {
            let result = match call.name.as_str() {
                "get_weather" => get_weather(call.arguments["city"].as_str().unwrap_or("Oslo")),
                "convert_to_fahrenheit" => {
                    convert_to_fahrenheit(call.arguments["celsius"].as_f64().unwrap_or(0.0))
                        .to_string()
                }
                other => format!("unknown tool {other}"),
            };
            let id = call.tool_id.clone().unwrap_or_default();
            history.push(
                Message::tool(result.clone(), id.clone())
                    .tool_results([ToolResult::function(call.name, result).id(id)]),
            );
        }
    }
    "I could not finish in five turns.".into()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _llmobs = llmobs::Config::from_env()?
        .default_ml_app("weather-agent")
        .init()?;
    println!(
        "{}",
        weather_agent("What's the weather in Oslo, in Fahrenheit?")
    );
    Ok(())
}
