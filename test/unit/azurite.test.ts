import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { useAzurite, uniqueContainer } from '../support/azurite';

describe('in-process Azurite', () => {
  it('round-trips a blob and a queue message on free ports', async () => {
    const azurite = await useAzurite();
    try {
      expect(azurite.blobEndpoint).not.toContain(':10000');
      const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
      const container = blobs.getContainerClient(uniqueContainer());
      await container.create();
      await container.getBlockBlobClient('a.txt').upload('hello', 5);
      const body = await container.getBlobClient('a.txt').downloadToBuffer();
      expect(body.toString()).toBe('hello');

      const queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
      const queue = queues.getQueueClient(uniqueContainer('q'));
      await queue.create();
      await queue.sendMessage('ping');
      const received = await queue.receiveMessages();
      expect(received.receivedMessageItems[0]?.messageText).toBe('ping');
    } finally {
      await azurite.stop();
    }
  });
});
