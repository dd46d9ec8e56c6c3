// Flex Consumption runs blob triggers only from Event Grid (`source: 'EventGrid'`). The system topic lives
// here; its subscription needs the app's blobs_extension key, which exists only after deployment, so the
// azd postdeploy hook (infra/hooks/postdeploy.sh) creates it.
param name string
param location string
param tags object
param storageAccountName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = systemTopic.name
