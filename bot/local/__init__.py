"""Local stand-ins for Slack (a fake Web API and a signed-request driver) for the offline demo and tests."""
