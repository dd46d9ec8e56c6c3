// Service Bus: the submission queue the trigger reads and the topic that receives completion events.
// Local (SAS) auth is off; the app connects with its managed identity only.
param name string
param location string
param tags object
param queueNames array
param topicNames array

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    // Topics need Standard or Premium.
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queueName in queueNames: {
    parent: serviceBusNamespace
    name: queueName
    properties: {
      // A message that keeps failing goes to the dead-letter queue instead of being retried forever.
      maxDeliveryCount: 5
      lockDuration: 'PT1M'
      deadLetteringOnMessageExpiration: true
    }
  }
]

resource topics 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = [
  for topicName in topicNames: {
    parent: serviceBusNamespace
    name: topicName
    properties: {
      defaultMessageTimeToLive: 'P14D'
    }
  }
]

output name string = serviceBusNamespace.name
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (the suffix differs in sovereign clouds):
// the part between the first and second ':' is //<host>; dropping the slashes leaves the host.
output fullyQualifiedNamespace string = replace(split(serviceBusNamespace.properties.serviceBusEndpoint, ':')[1], '/', '')
